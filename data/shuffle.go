package data

import "math/bits"

// The shuffle is written out here (SplitMix64 and Fisher-Yates with Lemire's bounded draw) rather than
// taken from math/rand so that the order of an epoch is fixed by this file alone: a run resumed with a
// newer Go release still sees the batches the interrupted run would have seen.

// splitMix64 is Steele, Lea and Flood's SplitMix64 generator.
type splitMix64 struct{ state uint64 }

func (s *splitMix64) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uintn returns a uniform value in [0, n), n > 0 (Lemire's multiply-and-reject).
func (s *splitMix64) uintn(n uint64) uint64 {
	hi, lo := bits.Mul64(s.next(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul64(s.next(), n)
		}
	}
	return hi
}

// newEpochRNG returns the generator of an epoch's shuffle: a function of (seed, epoch) only.
func newEpochRNG(seed uint64, epoch int) *splitMix64 {
	mix := splitMix64{state: seed}
	a := mix.next()
	mix = splitMix64{state: uint64(epoch) ^ 0x5851f42d4c957f2d}
	b := mix.next()
	return &splitMix64{state: a ^ bits.RotateLeft64(b, 17)}
}

// shuffleInt32 permutes v in place (Fisher-Yates), deterministically from rng.
func shuffleInt32(v []int32, rng *splitMix64) {
	for i := len(v) - 1; i > 0; i-- {
		j := rng.uintn(uint64(i + 1))
		v[i], v[j] = v[j], v[i]
	}
}

// Permutation returns the order in which an epoch visits n rows when shuffling: a permutation of
// [0, n) that depends only on (seed, epoch, n).
func Permutation(n int, seed uint64, epoch int) []int {
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(i)
	}
	shuffleInt32(v, newEpochRNG(seed, epoch))
	out := make([]int, n)
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}
