import ArgumentParser
import Foundation
import RecHub

/// `rechub evaluate`: per-task metrics of a checkpoint on a labelled CSV.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate", abstract: "Evaluate a checkpoint: per-task AUC and LogLoss on a labelled CSV.")

    @OptionGroup var source: CheckpointOptions
    @Option(help: "CSV with the label and feature columns (default: the run's test split).") var data: String?
    @OptionGroup var scoring: ScoringOptions

    func run() throws {
        Runtime.runAlone("evaluate") {
            let loaded = try CheckpointedModel(path: source.checkpoint)
            let config = loaded.config
            try Runtime.loadBLAS(config.blasCore)
            let (products, productLines) = try scoring.loadGEMM(config)
            guard let path = data ?? config.data.test else {
                throw ValidationError("the checkpoint's run has no test split: pass --data")
            }
            let dataset = try loaded.load(path, withLabels: true)
            let metrics = GEMMEngine.withSettings(products) {
                evaluateMultiTask(loaded.model, dataset, batchSize: scoring.batchSize, taskNames: config.data.labels,
                                  sampleSpaces: config.sampleSpaceColumns)
            }
            let oov = OutOfVocabularyReport(split: path, dataset: dataset)
            for line in productLines { print(line) }
            print("\(path): \(dataset.count) rows, out-of-vocabulary ids \(oov.summary.dropFirst(path.count + 1))")
            for w in oov.warnings { print(w) }
            for m in metrics { print("\(m.task)  \(m.summary)  (\(m.count) rows, \(m.positives) positive)") }
        }
    }
}

/// `rechub predict`: one probability column per task for every row of a CSV.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict", abstract: "Write per-task predictions of a checkpoint for every row of a CSV.",
        discussion: "The output has one column per task (a probability for classification tasks), rows in input order.")

    @OptionGroup var source: CheckpointOptions
    @Option(help: "Input CSV with the feature columns (labels not needed).") var data: String
    @Option(help: "Output CSV: a file (written whole, then renamed into place); '-', /dev/stdout or /dev/fd/N for an open descriptor (written through, so >> appends); or a pipe or terminal.")
    var out: String
    @OptionGroup var scoring: ScoringOptions

    /// The open descriptor `--out` names: 1 for "-" and `/dev/stdout`, 2 for `/dev/stderr`, N
    /// for `/dev/fd/N` and `/proc/self/fd/N`. Written through as it is (a `>>` keeps appending),
    /// never replaced by a rename, whatever it leads to.
    var descriptor: Int32? {
        switch out {
        case "-", "/dev/stdout": return 1
        case "/dev/stderr": return 2
        default:
            for prefix in ["/dev/fd/", "/proc/self/fd/"] where out.hasPrefix(prefix) {
                return Int32(out.dropFirst(prefix.count))
            }
            return nil
        }
    }

    /// Whether `--out` is written as a stream: an open descriptor (`descriptor`), or an existing
    /// FIFO or character device, which a rename would replace.
    var streamed: Bool {
        if descriptor != nil { return true }
        var st = stat()
        guard stat(out, &st) == 0 else { return false }
        return st.st_mode & S_IFMT == S_IFIFO || st.st_mode & S_IFMT == S_IFCHR
    }

    func run() throws {
        Runtime.runAlone("predict") {
            let stream = streamed
            let place = OutputPlaces.Place(key: "--out", path: out, isFolder: false)
            // A descriptor is checked by what it leads to ("-" is standard output): a shell's
            // `>> in.csv` would append the predictions to their own input.
            try OutputPlaces.checkNotInput(out == "-" ? .init(key: "--out", path: "/dev/stdout", isFolder: false) : place,
                                           inputs: [("--data", data), ("--checkpoint", source.checkpoint)])
            let target = stream ? out : try OutputPlaces.check([place])[0]
            let loaded = try CheckpointedModel(path: source.checkpoint)
            let (config, model) = (loaded.config, loaded.model)
            try Runtime.loadBLAS(config.blasCore)
            let (products, productLines) = try scoring.loadGEMM(config)
            let dataset = try loaded.load(data, withLabels: false)
            let t = model.numTasks
            let p = try GEMMEngine.withSettings(products) { try predictMultiTask(model, dataset, batchSize: scoring.batchSize) }
            var text = config.data.labels.map { "\($0)" }.joined(separator: ",") + "\n"
            text.reserveCapacity(dataset.count * t * 12)
            for i in 0..<dataset.count {
                text += (0..<t).map { "\(p[i * t + $0])" }.joined(separator: ",") + "\n"
            }
            do {
                if let fd = descriptor {
                    try FileHandle(fileDescriptor: fd, closeOnDealloc: false).write(contentsOf: Data(text.utf8))
                } else if stream {
                    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: target))
                    try handle.write(contentsOf: Data(text.utf8))
                    try handle.close()
                } else {
                    try text.write(toFile: target, atomically: true, encoding: .utf8)
                }
            } catch {
                throw DatasetError.cannotWrite(file: out, reason: error.localizedDescription)
            }
            // With the predictions on standard output, what is said about them goes to stderr.
            func say(_ line: String) {
                if stream { FileHandle.standardError.write(Data((line + "\n").utf8)) } else { print(line) }
            }
            let oov = OutOfVocabularyReport(split: data, dataset: dataset)
            for line in productLines { say(line) }
            say("wrote \(dataset.count) rows × \(t) tasks to \(descriptor == 1 ? "standard output" : out); out-of-vocabulary ids "
                + oov.summary.dropFirst(data.count + 1))
            for w in oov.warnings { say(w) }
        }
    }
}

/// `rechub inspect`: a checkpoint's header, config and sections.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Print a checkpoint's header, config and sections, checking every checksum.")

    @Argument(help: "A checkpoint file (.rhck).") var file: String

    func run() throws {
        Runtime.runAlone("inspect") {
            let f = try CheckpointFile(path: file)
            print("\(file): RecHub checkpoint, format \(CheckpointFormat.version)")
            print("step \(f.header.step), epoch \(f.header.epoch), step in epoch \(f.header.stepInEpoch), "
                  + "fingerprint \(String(f.header.configFingerprint, radix: 16))")
            if let id = Checkpointer.storedRunID(ofCheckpointAt: file) { print("run_id \(id)") }
            print("sections:")
            var bad: [String] = []
            for s in f.sections {
                var status = "ok"
                do { try f.verify(s.name) } catch { status = "CORRUPT (\(error))"; bad.append(s.name) }
                print(String(format: "  %-18@ %12d bytes  %@", s.name as NSString, s.length, status as NSString))
            }
            if let (config, features) = try? Checkpointer.readSetup(f) {
                print("model \(config.model.rawValue), tasks \(config.data.labels.joined(separator: ", ")), "
                      + "\(features.numSparse) sparse fields (\(features.vocabularySizes.reduce(0, +)) ids) × \(features.embeddingDim), "
                      + "\(features.numDense) dense")
                print("config:\n" + config.sourceYAML.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            }
            if !bad.isEmpty {
                fflush(nil)  // the listing first, then the error (every output stream)
                throw CheckpointError.io(file: file, reason: "corrupt section(s): \(bad.joined(separator: ", ")) (checksum mismatch)")
            }
        }
    }
}
