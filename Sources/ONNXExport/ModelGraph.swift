import Kernels
import Layers
import Models
import RecHubProto

/// One model's ONNX graph under construction: the builder, and the model whose weights,
/// batch-norm statistics and feature schema it reads. The layer emitters are in
/// `ModelGraph+Layers.swift`, one graph per model family in `ModelGraph+<Model>.swift`.
///
/// Every emitted layer computes what the model's forward pass computes in inference mode
/// (`context.isTraining == false`): batch norm with its running statistics, no dropout.
final class ModelGraph {
    /// The graph.
    let builder: ONNXGraphBuilder
    /// The model exported.
    let model: any MultiTaskModel
    /// Shape constants already added, by value.
    var shapeConstants: [[Int64]: String] = [:]
    /// Parameter tensors already added, by name and shape.
    var tensorInitializers: [String: String] = [:]

    /// Starts the graph of `model`.
    init(model: any MultiTaskModel) {
        self.model = model
        builder = ONNXGraphBuilder(name: "rechub_\(model.kind)")
    }

    /// The spec of a dense parameter tensor by name.
    /// - Throws: `ONNXExportError.missingTensor` when the layout has no such tensor.
    func spec(_ name: String) throws(ONNXExportError) -> TensorSpec {
        guard let s = model.layout.tensor(named: name) else { throw .missingTensor(name: name) }
        return s
    }

    /// The values of a dense parameter tensor (row-major, `spec.count` floats).
    func values(_ spec: TensorSpec) -> UnsafeBufferPointer<Float> {
        precondition(spec.offset >= 0 && spec.offset + spec.count <= model.parameters.count,
                     "tensor \(spec.name) at \(spec.offset)+\(spec.count) outside the arena of \(model.parameters.count)")
        return UnsafeBufferPointer(start: model.parameters.base + spec.offset, count: spec.count)
    }

    /// The values of a non-trainable state buffer (batch-norm running statistics) by name.
    /// - Throws: `ONNXExportError.missingTensor` when the layout declares no such state.
    func state(_ name: String) throws(ONNXExportError) -> UnsafeBufferPointer<Float> {
        guard let s = model.layout.states.first(where: { $0.name == name }) else { throw .missingTensor(name: name) }
        let buffer = model.context.state
        precondition(s.offset + s.count <= buffer.count, "state \(name) outside the state buffer of \(buffer.count)")
        return UnsafeBufferPointer(start: buffer.base + s.offset, count: s.count)
    }

    /// Adds a dense parameter tensor as an initializer of `shape` (default its own) under its
    /// name, once: a layer applied twice (AITM's query, key and value maps) reads one copy.
    func initializer(_ spec: TensorSpec, shape: [Int]? = nil) -> String {
        let s = shape ?? spec.shape
        let key = "\(spec.name)\(s)"
        if let name = tensorInitializers[key] { return name }
        let name = builder.addInitializer(spec.name, floats: values(spec), shape: s)
        tensorInitializers[key] = name
        return name
    }

    /// An int64 constant (1-D, or a scalar when `scalar`), added once per distinct value.
    func int64Constant(_ values: [Int64], name: String = "shape", scalar: Bool = false) -> String {
        let key = scalar ? values + [Int64.min] : values
        if let n = shapeConstants[key] { return n }
        let n = builder.addInitializer(name, int64s: values, shape: scalar ? [] : [values.count])
        shapeConstants[key] = n
        return n
    }

    /// The tensor name of a layer's weight without its `.weight` suffix (`bottom.0`).
    func prefix(of weight: TensorID) throws(ONNXExportError) -> String {
        let name = model.layout[weight].name
        guard name.hasSuffix(".weight") else { throw .missingTensor(name: "\(name) (a layer weight ending in .weight)") }
        return String(name.dropLast(".weight".count))
    }
}
