// The seeded generator lives in its own dependency-free module so that Datasets can use it
// without linking OpenBLAS; Kernels re-exports it for the layers, models and trainer.
@_exported import RecHubRandom
