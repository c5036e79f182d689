/// Why a model cannot be exported to ONNX: export refuses rather than write a graph that
/// would compute something else than `rechub predict`.
public enum ONNXExportError: Error, Equatable, CustomStringConvertible {
    /// The model's architecture (its `kind`) has no graph builder.
    case unsupportedModel(kind: String)
    /// The model's shape or settings cannot be expressed (what, and why).
    case unsupportedShape(model: String, reason: String)
    /// The task names do not match the model's tasks.
    case taskNames(expected: Int, got: [String])
    /// A tensor the graph needs is missing from the model's layout (its name).
    case missingTensor(name: String)
    /// The file would pass protobuf's 2 GB message limit (its weights' bytes).
    case tooLarge(bytes: Int, limit: Int)
    /// The file could not be written (path, reason).
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedModel(let kind):
            return "ONNX export supports shared_bottom, esmm, mmoe, ple and aitm models; this checkpoint's model is '\(kind)'"
        case let .unsupportedShape(model, reason):
            return "cannot export this \(model) model to ONNX: \(reason)"
        case let .taskNames(expected, got):
            return "the model has \(expected) task(s) but \(got.count) task name(s) were given: \(got)"
        case .missingTensor(let name):
            return "the model has no tensor '\(name)' that its ONNX graph needs (an unexpected parameter layout)"
        case let .tooLarge(bytes, limit):
            return "the model's weights take \(bytes) bytes, past the \(limit)-byte limit of one ONNX protobuf file "
                + "(weights in external data files are not written)"
        case let .cannotWrite(path, reason):
            return "cannot write \(path): \(reason)"
        }
    }
}
