import Foundation
import Kernels
import Layers
import Models
import RecHubProto
import SwiftProtobuf
import Training

/// Writes a trained model as an ONNX file that computes what `rechub predict` computes.
///
/// The file (ONNX IR version 8, default-domain operator set 17):
///
/// ```
/// inputs   sparse_ids   int64 (batch, F)   raw ids, the sparse columns in the model's order
///          dense        float (batch, D)   the dense columns in the model's order (absent when D = 0)
/// outputs  predictions  float (batch, T)   per task, in task order: a probability (σ of the
///                                          logit) for classification tasks, the value itself for
///                                          regression tasks; ESMM's are (pCTR, pCTCVR)
///          pcvr         float (batch, 1)   ESMM only: pCVR = σ(z_cvr)
/// ```
/// `batch` is a dynamic dimension (`dim_param`). Inside the graph an id at or past its
/// field's vocabulary size, or negative, takes the field's out-of-vocabulary row (the CSV
/// reader maps the former alike and refuses the latter). Batch normalisation uses its
/// running statistics (a `BatchNormalization` node per layer), dropout is left out, as in
/// inference. The task names, feature names and vocabulary sizes are in the model's
/// `metadata_props` (`rechub.tasks` etc., JSON arrays) and in the doc strings. Weights are
/// stored as little-endian `raw_data`.
///
/// Operators used: Less, GreaterOrEqual, Or, Where, Add, Gather, Reshape, Concat, Gemm,
/// BatchNormalization, Relu, Sigmoid, Tanh, Softmax, Split, MatMul, Mul, ReduceSum.
/// Specification: https://onnx.ai/onnx/repo-docs/IR.html and https://onnx.ai/onnx/operators/.
public enum ONNXExporter {
    /// The ONNX IR version written.
    public static let irVersion: Int64 = 8
    /// The default-domain operator set the graph binds against.
    public static let opsetVersion: Int64 = 17
    /// The graph input of sparse ids, int64 (batch, F).
    public static let sparseInput = "sparse_ids"
    /// The graph input of dense values, float (batch, D); absent when the model has none.
    public static let denseInput = "dense"
    /// The graph output of per-task predictions, float (batch, T).
    public static let predictionsOutput = "predictions"
    /// ESMM's extra output pCVR, float (batch, 1).
    public static let pcvrOutput = "pcvr"
    /// The dynamic batch dimension's name.
    public static let batchDimension = "batch"
    /// The largest file written: one protobuf message cannot pass 2 GB (2³¹ − 1 bytes).
    public static let protobufLimit = Int(Int32.max)

    /// The ONNX model of `model` (its current weights and batch-norm running statistics).
    /// - taskNames: the T task names (the label columns), for the metadata and doc strings.
    /// - byteLimit: refuse models whose weights take more bytes (default: protobuf's limit,
    ///   less 1 MB for the graph itself).
    /// - Throws: `ONNXExportError`: an architecture without a graph builder, names that do not
    ///   match the tasks, a shape the graph cannot express, or weights past `byteLimit`.
    public static func makeModel(_ model: any MultiTaskModel, taskNames: [String],
                                 byteLimit: Int = protobufLimit - (1 << 20)) throws(ONNXExportError) -> Onnx_ModelProto {
        guard taskNames.count == model.numTasks else { throw .taskNames(expected: model.numTasks, got: taskNames) }
        let weightBytes = (model.embeddings.weights.count + model.layout.count + model.layout.stateCount) * 4
        guard weightBytes <= byteLimit else { throw .tooLarge(bytes: weightBytes, limit: byteLimit) }
        let features = model.features
        let g = ModelGraph(model: model)
        let b = g.builder
        let batch = ONNXGraphBuilder.Dimension.named(batchDimension)
        let sparse = b.addInput(sparseInput, type: .int64, shape: [batch, .fixed(features.numSparse)],
                                doc: "raw ids of the sparse fields \(features.sparseNames); an id < 0 or ≥ its field's "
                                + "vocabulary size \(features.vocabularySizes) takes the field's out-of-vocabulary row")
        let dense = features.numDense == 0 ? nil
            : b.addInput(denseInput, type: .float, shape: [batch, .fixed(features.numDense)],
                         doc: "values of the dense columns \(features.denseNames)")
        let predictions = b.reserveOutput(predictionsOutput)
        let x = g.modelInput(sparse: sparse, dense: dense)

        var columns: [String] = []
        var extraDoc = ""
        switch model {
        case let m as SharedBottom:
            columns = try g.sharedBottom(m, x: x).enumerated().map { g.prediction(logit: $1, task: $0) }
        case let m as MMoE:
            columns = try g.mmoe(m, x: x).enumerated().map { g.prediction(logit: $1, task: $0) }
        case let m as PLE:
            columns = try g.ple(m, x: x).enumerated().map { g.prediction(logit: $1, task: $0) }
        case let m as AITM:
            columns = try g.aitm(m, x: x).enumerated().map { g.prediction(logit: $1, task: $0) }
        case let m as ESMM:
            let (ctr, cvr) = try g.esmm(m, x: x)
            let pctr = b.node("Sigmoid", [ctr], name: "pctr")
            let pcvr = b.node("Sigmoid", [cvr], output: b.reserveOutput(pcvrOutput))
            columns = [pctr, b.node("Mul", [pctr, pcvr], name: "pctcvr")]
            extraDoc = "; ESMM: \(taskNames[0]) is pCTR, \(taskNames[1]) is pCTCVR = pCTR × pCVR, and output pcvr is pCVR"
        default:
            throw .unsupportedModel(kind: model.kind)
        }
        b.node("Concat", columns, output: predictions, attributes: [.int("axis", 1)])
        let kinds = model.taskTypes.map { $0 == .classification ? "probability" : "value (regression)" }
        let taskList = zip(taskNames, kinds).map { "\($0) (\($1))" }.joined(separator: ", ")
        b.addOutput(predictionsOutput, type: .float, shape: [batch, .fixed(model.numTasks)],
                    doc: "one column per task, in order: \(taskList)\(extraDoc)")
        if model is ESMM {
            b.addOutput(pcvrOutput, type: .float, shape: [batch, .fixed(1)],
                        doc: "pCVR = σ(z_cvr), the post-click conversion rate (ESMM's CVR tower)")
        }
        b.setDoc("RecHub \(model.kind): \(features.numSparse) sparse fields × \(features.embeddingDim) + "
                 + "\(features.numDense) dense → \(model.numTasks) tasks (\(taskNames.joined(separator: ", "))), "
                 + "inference mode (batch-norm running statistics, no dropout)")

        var proto = Onnx_ModelProto()
        proto.irVersion = irVersion
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = opsetVersion
        proto.opsetImport = [opset]
        proto.producerName = "rechub"
        proto.producerVersion = "1"
        proto.docString = b.graph.docString
        proto.graph = b.graph
        func entry(_ key: String, _ value: String) -> Onnx_StringStringEntryProto {
            var e = Onnx_StringStringEntryProto()
            e.key = key
            e.value = value
            return e
        }
        proto.metadataProps = [
            entry("rechub.model", model.kind),
            entry("rechub.tasks", json(taskNames)),
            entry("rechub.task_types", json(model.taskTypes.map(\.rawValue))),
            entry("rechub.sparse_features", json(features.sparseNames)),
            entry("rechub.vocabulary_sizes", json(features.vocabularySizes)),
            entry("rechub.dense_features", json(features.denseNames)),
            entry("rechub.outputs", json(model is ESMM ? [predictionsOutput, pcvrOutput] : [predictionsOutput])),
        ]
        return proto
    }

    /// The serialized ONNX file of `model` (see `makeModel`).
    /// - Throws: `ONNXExportError` as `makeModel`, or `.tooLarge` when the encoded file passes
    ///   protobuf's 2 GB limit.
    public static func serializedModel(_ model: any MultiTaskModel, taskNames: [String]) throws(ONNXExportError) -> Data {
        let proto = try makeModel(model, taskNames: taskNames)
        let data: Data
        do { data = try proto.serializedData() } catch {
            throw .unsupportedShape(model: model.kind, reason: "protobuf encoding failed: \(error)")
        }
        guard data.count <= protobufLimit else { throw .tooLarge(bytes: data.count, limit: protobufLimit) }
        return data
    }

    /// Writes the ONNX file of `model` to `path` (atomically) and returns its size in bytes. A
    /// symbolic link at `path` is written through; a path that is not a regular file (a folder,
    /// device, FIFO or socket) is refused before the graph is built (see `OutputPlaces.fileTarget`).
    /// - Throws: `ONNXExportError` as `serializedModel`, or `.cannotWrite` naming the path.
    @discardableResult
    public static func write(_ model: any MultiTaskModel, taskNames: [String], to path: String) throws(ONNXExportError) -> Int {
        let target: String
        do { target = try OutputPlaces.fileTarget(path) } catch { throw .cannotWrite(path: path, reason: error.reason) }
        let data = try serializedModel(model, taskNames: taskNames)
        do { try data.write(to: URL(fileURLWithPath: target), options: .atomic) } catch {
            throw .cannotWrite(path: path, reason: error.localizedDescription)
        }
        return data.count
    }

    /// A JSON array of strings or numbers (the metadata values).
    static func json<Element>(_ values: [Element]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: values, options: [])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
