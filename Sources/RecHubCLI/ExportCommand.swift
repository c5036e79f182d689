import ArgumentParser
import Foundation
import RecHub

/// `rechub export`: a checkpoint as an ONNX file that computes what `rechub predict` computes.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Export a checkpoint's model to ONNX (IR 8, opset 17).",
        discussion: """
            Inputs: sparse_ids int64 (batch, F), the sparse columns in the model's order, raw ids (an id past \
            its field's vocabulary, or negative, takes the out-of-vocabulary row inside the graph); dense float \
            (batch, D), absent when the model has no dense columns. Output: predictions float (batch, T), one \
            column per task as rechub predict writes them; ESMM adds pcvr (batch, 1). Batch norm uses its \
            running statistics; dropout is left out.
            """)

    @OptionGroup var source: CheckpointOptions
    @Option(help: "The ONNX file to write.") var out: String

    func run() throws {
        Runtime.runAlone("export") {
            guard out != "-" else {  // not a file named "-" in the current folder
                throw ConfigError(file: "command line", key: "--out", message: "'-' (standard output) is not supported: "
                                  + "give the ONNX file's path")
            }
            let place = OutputPlaces.Place(key: "--out", path: out, isFolder: false)
            try OutputPlaces.checkNotInput(place, inputs: [("--checkpoint", source.checkpoint)])
            try OutputPlaces.check([place])
            let t0 = monotonicSeconds()
            let loaded = try CheckpointedModel(path: source.checkpoint)
            let (config, features, model) = (loaded.config, loaded.features, loaded.model)
            let bytes = try ONNXExporter.write(model, taskNames: config.data.labels, to: out)
            let seconds = monotonicSeconds() - t0
            let dense = features.numDense > 0 ? ", \(ONNXExporter.denseInput) float (batch, \(features.numDense))" : ""
            let extra = model is ESMM ? ", \(ONNXExporter.pcvrOutput) (batch, 1)" : ""
            print("wrote \(out): \(config.model.rawValue), \(bytes) bytes in \(String(format: "%.2f", seconds)) s; "
                  + "inputs \(ONNXExporter.sparseInput) int64 (batch, \(features.numSparse))\(dense); "
                  + "outputs \(ONNXExporter.predictionsOutput) (batch, \(model.numTasks)) = "
                  + "[\(config.data.labels.joined(separator: ", "))]\(extra); opset \(ONNXExporter.opsetVersion)")
            if config.precision == .bf16 {
                print("note: the run trained with bf16 products; the graph computes in fp32 from its fp32 weights, as "
                      + "`rechub predict --precision fp32` does (plain `predict` uses the run's bf16 products)")
            }
        }
    }
}
