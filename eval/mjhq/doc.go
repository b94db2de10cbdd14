// Package mjhq runs the MJHQ-30K evaluation of SANA-Sprint's tables (reference notes §4): it reads
// meta_data.json in file order, pairs the reference images <category>/<key>.jpg with generated
// <key>.jpg, and reports the overall and per-category FID (pytorch-fid protocol) and CLIP score
// (SANA's and torchmetrics'), as JSON and Markdown.
//
// Long runs resume: reference statistics are cached as .npz (SANA's MJHQ_30K_..._fid_embeddings
// naming plus a fingerprint of the model and image set), and per-image features and cosines are
// appended to cache files as they are computed, keyed by file name, size and modification time.
// Progress lines give images/s and the ETA.
//
// It does not generate images (the sampler does) and does not download the dataset.
package mjhq
