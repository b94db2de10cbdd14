// Package npy reads and writes NumPy's .npy arrays and .npz archives, the layout pytorch-fid uses for
// its cached statistics (an .npz holding mu.npy and sigma.npy, float64).
//
// Writing always produces format version 1.0, little-endian float64, C order, with the header padded to
// 64 bytes as numpy does; .npz files are uncompressed zip archives, as np.savez writes them. Reading
// accepts format versions 1-3, float32/float64/integer dtypes of either byte order, Fortran order, and
// deflate-compressed archives (np.savez_compressed). It is not a general NumPy reader: object, string,
// complex and structured dtypes are rejected.
package npy
