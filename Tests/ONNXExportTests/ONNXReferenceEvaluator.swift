import Foundation
import RecHubProto

/// A value of the reference evaluator: a shape and row-major values (floats held in Double).
struct RefTensor {
    enum Values {
        case float([Double])
        case int([Int64])
        case bool([Bool])
    }

    var shape: [Int]
    var values: Values

    var count: Int { shape.reduce(1, *) }

    func floats() throws -> [Double] {
        guard case .float(let v) = values else { throw RefError("expected a float tensor, got \(values)") }
        return v
    }

    func ints() throws -> [Int64] {
        guard case .int(let v) = values else { throw RefError("expected an int64 tensor") }
        return v
    }

    func bools() throws -> [Bool] {
        guard case .bool(let v) = values else { throw RefError("expected a bool tensor") }
        return v
    }
}

/// An evaluation failure (an op, attribute or shape the reference does not accept).
struct RefError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// A small ONNX interpreter for the tests: it decodes an exported file with the generated
/// messages and evaluates its nodes in file order, each operator written out plainly in
/// Double from the ONNX operator specification (opset 17), so the graph's arithmetic is
/// checked independently of RecHub's kernels. Only the operators the exporter emits are
/// known; an unknown operator or attribute, a value used before it is computed, or a
/// shape that breaks an operator's rules is an error, never silently skipped.
struct ONNXReferenceEvaluator {
    /// The decoded model.
    let model: Onnx_ModelProto

    /// Decodes `bytes`.
    init(bytes: Data) throws {
        model = try Onnx_ModelProto(serializedBytes: bytes)
    }

    /// Runs the graph on `inputs` (by graph input name) and returns every graph output.
    func run(_ inputs: [String: RefTensor]) throws -> [String: RefTensor] {
        var env: [String: RefTensor] = [:]
        for t in model.graph.initializer { env[t.name] = try Self.decode(t) }
        for i in model.graph.input {
            guard let v = inputs[i.name] else { throw RefError("missing graph input \(i.name)") }
            try Self.check(v, against: i, bindings: nil)
            env[i.name] = v
        }
        for node in model.graph.node {
            let args = try node.input.map { name -> RefTensor? in
                if name.isEmpty { return nil }
                guard let v = env[name] else { throw RefError("\(node.name): input \(name) is not computed yet") }
                return v
            }
            let outs = try Self.evaluate(node, args)
            guard outs.count == node.output.count else {
                throw RefError("\(node.opType) produced \(outs.count) outputs for \(node.output.count) names")
            }
            for (name, v) in zip(node.output, outs) {
                guard env[name] == nil else { throw RefError("value \(name) written twice") }
                env[name] = v
            }
        }
        var result: [String: RefTensor] = [:]
        for o in model.graph.output {
            guard let v = env[o.name] else { throw RefError("output \(o.name) never computed") }
            try Self.check(v, against: o, bindings: inputs.values.first?.shape.first)
            result[o.name] = v
        }
        return result
    }

    /// Checks a value against its declared type and shape (a named dimension must equal the batch).
    static func check(_ v: RefTensor, against info: Onnx_ValueInfoProto, bindings batch: Int?) throws {
        let t = info.type.tensorType
        guard t.shape.dim.count == v.shape.count else {
            throw RefError("\(info.name): rank \(v.shape.count), declared \(t.shape.dim.count)")
        }
        for (d, n) in zip(t.shape.dim, v.shape) {
            switch d.value {
            case .dimValue(let fixed)?:
                guard Int(fixed) == n else { throw RefError("\(info.name): dimension \(n), declared \(fixed)") }
            case .dimParam?:
                if let batch, n != batch { throw RefError("\(info.name): batch dimension \(n), batch is \(batch)") }
            case nil:
                throw RefError("\(info.name): a dimension without value or name")
            }
        }
        switch (Onnx_TensorProto.DataType(rawValue: Int(t.elemType)), v.values) {
        case (.float?, .float), (.int64?, .int): break
        default: throw RefError("\(info.name): element type \(t.elemType) does not match its value")
        }
    }

    /// An initializer's values (raw_data little-endian, or the typed fields).
    static func decode(_ t: Onnx_TensorProto) throws -> RefTensor {
        let shape = t.dims.map { Int($0) }
        let n = shape.reduce(1, *)
        switch Onnx_TensorProto.DataType(rawValue: Int(t.dataType)) {
        case .float?:
            var v: [Double]
            if !t.rawData.isEmpty {
                guard t.rawData.count == 4 * n else { throw RefError("\(t.name): \(t.rawData.count) bytes for \(n) floats") }
                v = [Double](repeating: 0, count: n)
                let bytes = [UInt8](t.rawData)
                for i in 0..<n {
                    var bits: UInt32 = 0
                    for k in 0..<4 { bits |= UInt32(bytes[4 * i + k]) << (8 * UInt32(k)) }
                    v[i] = Double(Float(bitPattern: bits))
                }
            } else {
                v = t.floatData.map(Double.init)
            }
            guard v.count == n else { throw RefError("\(t.name): \(v.count) floats for shape \(shape)") }
            return RefTensor(shape: shape, values: .float(v))
        case .int64?:
            var v: [Int64]
            if !t.rawData.isEmpty {
                guard t.rawData.count == 8 * n else { throw RefError("\(t.name): \(t.rawData.count) bytes for \(n) int64") }
                let bytes = [UInt8](t.rawData)
                v = (0..<n).map { i in
                    var bits: UInt64 = 0
                    for k in 0..<8 { bits |= UInt64(bytes[8 * i + k]) << (8 * UInt64(k)) }
                    return Int64(bitPattern: bits)
                }
            } else {
                v = t.int64Data
            }
            guard v.count == n else { throw RefError("\(t.name): \(v.count) values for shape \(shape)") }
            return RefTensor(shape: shape, values: .int(v))
        default:
            throw RefError("\(t.name): data type \(t.dataType) not handled")
        }
    }

    // MARK: Operators

    static func attributes(_ node: Onnx_NodeProto, allowed: Set<String>) throws -> [String: Onnx_AttributeProto] {
        var out: [String: Onnx_AttributeProto] = [:]
        for a in node.attribute {
            guard allowed.contains(a.name) else { throw RefError("\(node.opType): attribute \(a.name) not understood") }
            out[a.name] = a
        }
        return out
    }

    static func int(_ attrs: [String: Onnx_AttributeProto], _ name: String, default value: Int64) throws -> Int64 {
        guard let a = attrs[name] else { return value }
        guard a.type == .int else { throw RefError("attribute \(name) is not an int") }
        return a.i
    }

    static func evaluate(_ node: Onnx_NodeProto, _ args: [RefTensor?]) throws -> [RefTensor] {
        func arg(_ i: Int) throws -> RefTensor {
            guard i < args.count, let a = args[i] else { throw RefError("\(node.opType): input \(i) missing") }
            return a
        }
        switch node.opType {
        case "Add", "Mul":
            _ = try attributes(node, allowed: [])
            let a = try arg(0), b = try arg(1)
            let add = node.opType == "Add"
            switch (a.values, b.values) {
            case let (.float(x), .float(y)):
                return [try broadcast(a.shape, b.shape) { i, j in .float(add ? x[i] + y[j] : x[i] * y[j]) }]
            case let (.int(x), .int(y)):
                return [try broadcast(a.shape, b.shape) { i, j in .int(add ? x[i] + y[j] : x[i] * y[j]) }]
            default: throw RefError("\(node.opType): mixed element types")
            }
        case "Less", "GreaterOrEqual":
            _ = try attributes(node, allowed: [])
            let a = try arg(0), b = try arg(1)
            let less = node.opType == "Less"
            switch (a.values, b.values) {
            case let (.int(x), .int(y)):
                return [try broadcast(a.shape, b.shape) { i, j in .bool(less ? x[i] < y[j] : x[i] >= y[j]) }]
            case let (.float(x), .float(y)):
                return [try broadcast(a.shape, b.shape) { i, j in .bool(less ? x[i] < y[j] : x[i] >= y[j]) }]
            default: throw RefError("\(node.opType): mixed element types")
            }
        case "Or":
            _ = try attributes(node, allowed: [])
            let a = try arg(0), b = try arg(1)
            let x = try a.bools(), y = try b.bools()
            return [try broadcast(a.shape, b.shape) { i, j in .bool(x[i] || y[j]) }]
        case "Where":
            _ = try attributes(node, allowed: [])
            let c = try arg(0), a = try arg(1), b = try arg(2)
            let cond = try c.bools()
            let shape = try broadcastShape(try broadcastShape(c.shape, a.shape), b.shape)
            let ic = indexMap(c.shape, to: shape), ia = indexMap(a.shape, to: shape), ib = indexMap(b.shape, to: shape)
            switch (a.values, b.values) {
            case let (.int(x), .int(y)):
                return [RefTensor(shape: shape, values: .int((0..<ic.count).map { cond[ic[$0]] ? x[ia[$0]] : y[ib[$0]] }))]
            case let (.float(x), .float(y)):
                return [RefTensor(shape: shape, values: .float((0..<ic.count).map { cond[ic[$0]] ? x[ia[$0]] : y[ib[$0]] }))]
            default: throw RefError("Where: mixed element types")
            }
        case "Relu", "Sigmoid", "Tanh":
            _ = try attributes(node, allowed: [])
            let a = try arg(0)
            let x = try a.floats()
            let f: (Double) -> Double
            switch node.opType {
            case "Relu": f = { max($0, 0) }
            case "Sigmoid": f = { 1 / (1 + exp(-$0)) }
            default: f = { tanh($0) }
            }
            return [RefTensor(shape: a.shape, values: .float(x.map(f)))]
        case "Gather":
            let attrs = try attributes(node, allowed: ["axis"])
            guard try int(attrs, "axis", default: 0) == 0 else { throw RefError("Gather: only axis 0") }
            let data = try arg(0), idx = try arg(1)
            let rows = data.shape[0], width = data.count / max(rows, 1)
            let x = try data.floats()
            var out: [Double] = []
            for var i in try idx.ints() {
                if i < 0 { i += Int64(rows) }  // ONNX: negative indices count from the end
                guard i >= 0 && i < rows else { throw RefError("Gather: index \(i) outside \(rows) rows") }
                out.append(contentsOf: x[(Int(i) * width)..<((Int(i) + 1) * width)])
            }
            return [RefTensor(shape: idx.shape + data.shape.dropFirst(), values: .float(out))]
        case "Reshape":
            let attrs = try attributes(node, allowed: ["allowzero"])
            guard try int(attrs, "allowzero", default: 0) == 0 else { throw RefError("Reshape: allowzero") }
            let a = try arg(0)
            var shape = try arg(1).ints().enumerated().map { k, d in d == 0 ? a.shape[k] : Int(d) }
            if let k = shape.firstIndex(of: -1) {
                let rest = shape.enumerated().filter { $0.offset != k }.map(\.element).reduce(1, *)
                guard rest > 0, a.count % rest == 0 else { throw RefError("Reshape: cannot infer -1") }
                shape[k] = a.count / rest
            }
            guard shape.reduce(1, *) == a.count else { throw RefError("Reshape: \(a.shape) to \(shape)") }
            return [RefTensor(shape: shape, values: a.values)]
        case "Concat":
            let attrs = try attributes(node, allowed: ["axis"])
            let parts = try (0..<args.count).map(arg)
            let rank = parts[0].shape.count
            var axis = Int(try int(attrs, "axis", default: Int64.min))
            guard axis != Int(Int64.min) else { throw RefError("Concat: axis is required") }
            if axis < 0 { axis += rank }
            for p in parts where p.shape.count != rank || p.shape.enumerated().contains(where: { $0.offset != axis && $0.element != parts[0].shape[$0.offset] }) {
                throw RefError("Concat: shapes \(parts.map(\.shape)) along axis \(axis)")
            }
            let outer = parts[0].shape[..<axis].reduce(1, *)
            let inner = parts.map { $0.shape[axis...].reduce(1, *) }
            var out: [Double] = []
            let xs = try parts.map { try $0.floats() }
            for o in 0..<outer {
                for (p, x) in xs.enumerated() { out.append(contentsOf: x[(o * inner[p])..<((o + 1) * inner[p])]) }
            }
            var shape = parts[0].shape
            shape[axis] = parts.map { $0.shape[axis] }.reduce(0, +)
            return [RefTensor(shape: shape, values: .float(out))]
        case "Gemm":
            let attrs = try attributes(node, allowed: ["alpha", "beta", "transA", "transB"])
            let alpha = Double(attrs["alpha"]?.f ?? 1), beta = Double(attrs["beta"]?.f ?? 1)
            let ta = try int(attrs, "transA", default: 0) != 0, tb = try int(attrs, "transB", default: 0) != 0
            let a = try arg(0), b = try arg(1)
            guard a.shape.count == 2, b.shape.count == 2 else { throw RefError("Gemm: A \(a.shape), B \(b.shape)") }
            let m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1]
            let n = tb ? b.shape[0] : b.shape[1], kb = tb ? b.shape[1] : b.shape[0]
            guard k == kb else { throw RefError("Gemm: inner sizes \(k) and \(kb)") }
            let x = try a.floats(), y = try b.floats()
            var out = [Double](repeating: 0, count: m * n)
            if args.count > 2, let c = args[2] {
                let map = indexMap(c.shape, to: [m, n])
                guard try broadcastShape(c.shape, [m, n]) == [m, n] else { throw RefError("Gemm: C \(c.shape)") }
                let z = try c.floats()
                for i in 0..<(m * n) { out[i] = beta * z[map[i]] }
            }
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k { s += x[ta ? p * m + i : i * k + p] * y[tb ? j * k + p : p * n + j] }
                    out[i * n + j] += alpha * s
                }
            }
            return [RefTensor(shape: [m, n], values: .float(out))]
        case "MatMul":
            _ = try attributes(node, allowed: [])
            let a = try arg(0), b = try arg(1)
            guard a.shape.count == b.shape.count, a.shape.count >= 2, a.shape.dropLast(2) == b.shape.dropLast(2) else {
                throw RefError("MatMul: \(a.shape) × \(b.shape) (same batch dimensions only)")
            }
            let r = a.shape.count
            let m = a.shape[r - 2], k = a.shape[r - 1], n = b.shape[r - 1]
            guard b.shape[r - 2] == k else { throw RefError("MatMul: \(a.shape) × \(b.shape)") }
            let batches = a.shape.dropLast(2).reduce(1, *)
            let x = try a.floats(), y = try b.floats()
            var out = [Double](repeating: 0, count: batches * m * n)
            for q in 0..<batches {
                for i in 0..<m {
                    for j in 0..<n {
                        var s = 0.0
                        for p in 0..<k { s += x[q * m * k + i * k + p] * y[q * k * n + p * n + j] }
                        out[q * m * n + i * n + j] = s
                    }
                }
            }
            return [RefTensor(shape: Array(a.shape.dropLast(2)) + [m, n], values: .float(out))]
        case "BatchNormalization":
            let attrs = try attributes(node, allowed: ["epsilon", "momentum", "training_mode"])
            guard try int(attrs, "training_mode", default: 0) == 0 else { throw RefError("BatchNormalization: training mode") }
            let eps = Double(attrs["epsilon"]?.f ?? 1e-5)
            let a = try arg(0)
            let x = try a.floats()
            let scale = try arg(1).floats(), bias = try arg(2).floats(), mean = try arg(3).floats(), variance = try arg(4).floats()
            guard a.shape.count == 2, [scale, bias, mean, variance].allSatisfy({ $0.count == a.shape[1] }) else {
                throw RefError("BatchNormalization: X \(a.shape) with \(scale.count) channels")
            }
            let c = a.shape[1]
            let out = x.indices.map { i -> Double in
                let j = i % c
                return scale[j] * (x[i] - mean[j]) / (variance[j] + eps).squareRoot() + bias[j]
            }
            return [RefTensor(shape: a.shape, values: .float(out))]
        case "Softmax":
            let attrs = try attributes(node, allowed: ["axis"])
            let a = try arg(0)
            var axis = Int(try int(attrs, "axis", default: -1))
            if axis < 0 { axis += a.shape.count }
            guard axis == a.shape.count - 1 else { throw RefError("Softmax: only the last axis") }
            let n = a.shape[axis]
            var x = try a.floats()
            for row in 0..<(a.count / n) {
                let r = (row * n)..<((row + 1) * n)
                let mx = x[r].max()!
                let e = x[r].map { exp($0 - mx) }
                let s = e.reduce(0, +)
                for (j, v) in e.enumerated() { x[row * n + j] = v / s }
            }
            return [RefTensor(shape: a.shape, values: .float(x))]
        case "Split":
            let attrs = try attributes(node, allowed: ["axis"])
            let a = try arg(0)
            var axis = Int(try int(attrs, "axis", default: 0))
            if axis < 0 { axis += a.shape.count }
            let sizes = try arg(1).ints().map { Int($0) }
            guard sizes.count == node.output.count, sizes.reduce(0, +) == a.shape[axis] else {
                throw RefError("Split: sizes \(sizes) of \(a.shape) axis \(axis) into \(node.output.count)")
            }
            let outer = a.shape[..<axis].reduce(1, *), inner = a.shape[(axis + 1)...].reduce(1, *)
            let x = try a.floats()
            var start = 0
            return sizes.map { s in
                var out: [Double] = []
                for o in 0..<outer {
                    let base = (o * a.shape[axis] + start) * inner
                    out.append(contentsOf: x[base..<(base + s * inner)])
                }
                start += s
                var shape = a.shape
                shape[axis] = s
                return RefTensor(shape: shape, values: .float(out))
            }
        case "ReduceSum":
            let attrs = try attributes(node, allowed: ["keepdims", "noop_with_empty_axes"])
            let a = try arg(0)
            let keep = try int(attrs, "keepdims", default: 1) != 0
            let axes = try arg(1).ints().map { Int($0) < 0 ? Int($0) + a.shape.count : Int($0) }
            guard axes == [a.shape.count - 1] else { throw RefError("ReduceSum: only the last axis") }
            let n = a.shape[a.shape.count - 1]
            let x = try a.floats()
            let out = (0..<(a.count / n)).map { r in x[(r * n)..<((r + 1) * n)].reduce(0, +) }
            var shape = Array(a.shape.dropLast())
            if keep { shape.append(1) }
            return [RefTensor(shape: shape, values: .float(out))]
        default:
            throw RefError("operator \(node.opType) is not known to the reference evaluator")
        }
    }

    // MARK: Broadcasting (numpy rules, as ONNX's multidirectional broadcasting)

    static func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let r = max(a.count, b.count)
        let pa = Array(repeating: 1, count: r - a.count) + a, pb = Array(repeating: 1, count: r - b.count) + b
        return try zip(pa, pb).map { x, y in
            guard x == y || x == 1 || y == 1 else { throw RefError("cannot broadcast \(a) with \(b)") }
            return max(x, y)
        }
    }

    /// For each element of `shape` (row-major), the flat index of the element of `from` it reads.
    static func indexMap(_ from: [Int], to shape: [Int]) -> [Int] {
        let r = shape.count
        let padded = Array(repeating: 1, count: r - from.count) + from
        var strides = [Int](repeating: 0, count: r)
        var s = 1
        for k in stride(from: r - 1, through: 0, by: -1) {
            strides[k] = padded[k] == 1 ? 0 : s
            s *= padded[k]
        }
        let n = shape.reduce(1, *)
        var out = [Int](repeating: 0, count: n)
        var index = [Int](repeating: 0, count: r)
        for i in 0..<n {
            var flat = 0
            for k in 0..<r { flat += index[k] * strides[k] }
            out[i] = flat
            var k = r - 1
            while k >= 0 {
                index[k] += 1
                if index[k] < shape[k] { break }
                index[k] = 0
                k -= 1
            }
        }
        return out
    }

    enum Element {
        case float(Double), int(Int64), bool(Bool)
    }

    static func broadcast(_ a: [Int], _ b: [Int], _ f: (Int, Int) -> Element) throws -> RefTensor {
        let shape = try broadcastShape(a, b)
        let ia = indexMap(a, to: shape), ib = indexMap(b, to: shape)
        let elements = (0..<ia.count).map { f(ia[$0], ib[$0]) }
        switch elements.first {
        case .int?: return RefTensor(shape: shape, values: .int(elements.map { if case .int(let v) = $0 { v } else { 0 } }))
        case .bool?: return RefTensor(shape: shape, values: .bool(elements.map { if case .bool(let v) = $0 { v } else { false } }))
        default: return RefTensor(shape: shape, values: .float(elements.map { if case .float(let v) = $0 { v } else { 0 } }))
        }
    }
}
