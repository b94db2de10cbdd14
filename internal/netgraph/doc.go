// Package netgraph holds the graph-building plumbing that sprint's networks share (the SANA
// transformer in model, the Gemma-2 text encoder in gemma, the DC-AE autoencoder in vae): the
// name → node map a forward reads its weights from, and the dtype casts around their norms and
// attention.
//
// It is not a layer library: each network keeps its layers, its parameter table and its
// checkpoint names, and wraps these helpers in its own Weights type and messages.
package netgraph
