// RecHub: what `import RecHub` gives a user — models, layers, kernels, data, evaluation,
// collectives and the trainer, in one import.
@_exported import Collectives
@_exported import Datasets
@_exported import Evaluation
@_exported import Kernels
@_exported import Layers
@_exported import Models
@_exported import Training
@_exported import ONNXExport
@_exported import Reporting
@_exported import TensorBoard
