import Foundation
import RecHubProto

/// Builds one ONNX graph: typed inputs and outputs, constant tensors (initializers, weights as
/// little-endian `raw_data`) and nodes in topological order, each value under a unique name.
///
/// ```
/// let b = ONNXGraphBuilder(name: "mmoe")
/// let x = b.addInput("dense", type: .float, shape: [.named("batch"), .fixed(8)])
/// let w = b.addInitializer("w", floats: weights, shape: [4, 8])
/// let y = b.node("Gemm", [x, w], attributes: [.int("transB", 1)])
/// ```
/// The ONNX specification (IR version 8, operator set 17): https://onnx.ai/onnx/repo-docs/IR.html.
public final class ONNXGraphBuilder {
    /// A dimension of a graph input or output: a number, or a name (a dynamic size, `dim_param`).
    public enum Dimension: Sendable, Equatable {
        /// A fixed size.
        case fixed(Int)
        /// A dynamic size, named (every dimension of that name has the same size).
        case named(String)
    }

    /// A node attribute, by ONNX attribute type.
    public enum Attribute: Sendable, Equatable {
        /// A 64-bit integer attribute.
        case int(String, Int64)
        /// A 32-bit float attribute.
        case float(String, Float)
        /// A list of 64-bit integers.
        case ints(String, [Int64])

        var proto: Onnx_AttributeProto {
            var a = Onnx_AttributeProto()
            switch self {
            case let .int(name, value):
                a.name = name
                a.type = .int
                a.i = value
            case let .float(name, value):
                a.name = name
                a.type = .float
                a.f = value
            case let .ints(name, values):
                a.name = name
                a.type = .ints
                a.ints = values
            }
            return a
        }
    }

    /// The graph built so far.
    public private(set) var graph = Onnx_GraphProto()
    /// Bytes of initializer data written so far (the weights' share of the file).
    public private(set) var initializerBytes = 0
    private var used: Set<String> = []
    private var nodeCount = 0

    /// Starts an empty graph called `name`.
    public init(name: String) {
        graph.name = name
    }

    /// A name not yet used in the graph: `base`, else `base_1`, `base_2`, …
    public func freshName(_ base: String) -> String {
        var name = base
        var k = 0
        while used.contains(name) {
            k += 1
            name = "\(base)_\(k)"
        }
        used.insert(name)
        return name
    }

    /// Reserves `name` exactly (graph inputs and outputs, whose names are the interface).
    /// - Precondition: the name is not taken.
    private func reserve(_ name: String) -> String {
        precondition(!used.contains(name), "ONNX value name \(name) used twice")
        used.insert(name)
        return name
    }

    /// Declares a graph input and returns its name.
    @discardableResult
    public func addInput(_ name: String, type: Onnx_TensorProto.DataType, shape: [Dimension], doc: String = "") -> String {
        graph.input.append(Self.valueInfo(reserve(name), type: type, shape: shape, doc: doc))
        return name
    }

    /// Reserves the name of a graph output; the node computing it must write that name
    /// (`node(_:_:output:)`), and `addOutput` declares it.
    public func reserveOutput(_ name: String) -> String { reserve(name) }

    /// Declares `name` (reserved with `reserveOutput`) as a graph output.
    public func addOutput(_ name: String, type: Onnx_TensorProto.DataType, shape: [Dimension], doc: String = "") {
        precondition(used.contains(name), "output \(name) was never reserved")
        graph.output.append(Self.valueInfo(name, type: type, shape: shape, doc: doc))
    }

    /// Adds a float initializer of `shape` holding `values` (row-major) and returns its name.
    public func addInitializer(_ name: String, floats values: UnsafeBufferPointer<Float>, shape: [Int]) -> String {
        precondition(shape.reduce(1, *) == values.count, "initializer \(name): shape \(shape) for \(values.count) floats")
        var t = Onnx_TensorProto()
        t.name = freshName(name)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.dims = shape.map(Int64.init)
        t.rawData = Self.littleEndian(values)
        initializerBytes += t.rawData.count
        graph.initializer.append(t)
        return t.name
    }

    /// Adds a float initializer from an array.
    public func addInitializer(_ name: String, floats values: [Float], shape: [Int]) -> String {
        values.withUnsafeBufferPointer { addInitializer(name, floats: $0, shape: shape) }
    }

    /// Adds an int64 initializer of `shape` (a scalar when `shape` is empty) and returns its name.
    public func addInitializer(_ name: String, int64s values: [Int64], shape: [Int]) -> String {
        precondition(shape.reduce(1, *) == values.count, "initializer \(name): shape \(shape) for \(values.count) values")
        var t = Onnx_TensorProto()
        t.name = freshName(name)
        t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        t.dims = shape.map(Int64.init)
        var bytes = Data(capacity: values.count * 8)
        for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        t.rawData = bytes
        initializerBytes += bytes.count
        graph.initializer.append(t)
        return t.name
    }

    /// Appends a node of `op` (default domain) with one output, named `output` exactly when
    /// given (a reserved graph output), else fresh from `name`; returns the output's name.
    @discardableResult
    public func node(_ op: String, _ inputs: [String], name: String? = nil, output: String? = nil,
                     attributes: [Attribute] = []) -> String {
        let out = output ?? freshName(name ?? op.lowercased())
        appendNode(op, inputs, outputs: [out], attributes: attributes)
        return out
    }

    /// Appends a node with `count` outputs (fresh names from `name`) and returns them.
    public func node(_ op: String, _ inputs: [String], name: String, outputs count: Int,
                     attributes: [Attribute] = []) -> [String] {
        let outs = (0..<count).map { freshName("\(name)_\($0)") }
        appendNode(op, inputs, outputs: outs, attributes: attributes)
        return outs
    }

    private func appendNode(_ op: String, _ inputs: [String], outputs: [String], attributes: [Attribute]) {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = "\(op)_\(nodeCount)"
        n.attribute = attributes.map(\.proto)
        nodeCount += 1
        graph.node.append(n)
    }

    /// Sets the graph's documentation string.
    public func setDoc(_ doc: String) { graph.docString = doc }

    static func valueInfo(_ name: String, type: Onnx_TensorProto.DataType, shape: [Dimension],
                          doc: String) -> Onnx_ValueInfoProto {
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(type.rawValue)
        var s = Onnx_TensorShapeProto()
        s.dim = shape.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            switch d {
            case .fixed(let n): dim.dimValue = Int64(n)
            case .named(let p): dim.dimParam = p
            }
            return dim
        }
        tensor.shape = s
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensor
        info.docString = doc
        return info
    }

    /// The values as little-endian IEEE 754 bytes (ONNX's `raw_data`).
    static func littleEndian(_ values: UnsafeBufferPointer<Float>) -> Data {
        #if _endian(little)
        return Data(buffer: values)
        #else
        var bytes = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
        #endif
    }
}
