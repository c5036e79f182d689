import Foundation
import Testing

/// The command line's help text, pinned (a change to it shows here and is made on purpose),
/// and `train --print-config`, which prints the config a run would use.
struct HelpAndPrintConfigTests {
    let cli = RecHubCLITests()

    /// `rechub --help` at 80 columns.
    static let topLevelHelp = """
OVERVIEW: Multi-task recommendation models (SharedBottom, ESMM, MMoE, PLE,
AITM) trained data-parallel over MPI.

Run alone for a single process, or under mpirun for data-parallel training:
  rechub train --config Configs/default.yaml
  mpirun -np 2 rechub train --config Configs/default.yaml

USAGE: rechub <subcommand>

OPTIONS:
  -h, --help              Show help information.

SUBCOMMANDS:
  train                   Train a multi-task model from a YAML config.
  evaluate                Evaluate a checkpoint: per-task AUC and LogLoss on a
                          labelled CSV.
  predict                 Write per-task predictions of a checkpoint for every
                          row of a CSV.
  inspect                 Print a checkpoint's header, config and sections,
                          checking every checksum.
  generate                Generate Ali-CCP-shaped CSVs with a planted ground
                          truth and its oracle AUCs.
  bench                   Measure training samples/s, the dense layers'
                          GFLOP/s, sgemm's GFLOP/s and peak memory.
  export                  Export a checkpoint's model to ONNX (IR 8, opset 17).
  report                  Write one self-contained HTML report of a training
                          run.

  See 'rechub help <subcommand>' for detailed help.
"""

    /// `rechub train --help` at 80 columns.
    static let trainHelp = """
OVERVIEW: Train a multi-task model from a YAML config.

Without --config, runs the built-in default job (Configs/default.yaml).

USAGE: rechub train [--config <config>] [--set <key=value> ...] [--print-config] [--save-parameters <file>] [--resume <dir-or-file>]

OPTIONS:
  --config <config>       YAML config file (see Configs/).
  --set <key=value>       Override a config key, e.g. --set epochs=2 or --set
                          data.train=x.csv (a CSV given here turns the config's
                          data.generate off).
  --print-config          Print the config this run would use (the file or the
                          default, or with --resume the run's stored one, with
                          every --set applied) and exit.
  --save-parameters <file>
                          Write the final parameters (rank 0) as a raw dump,
                          for comparing runs.
  --resume <dir-or-file>  Continue from the newest valid checkpoint in a run
                          folder, a checkpoint folder, or one .rhck file: the
                          run's stored config with --set on top, in the folder
                          the checkpoint is in (--config instead replaces the
                          stored config whole, output_dir included).
  -h, --help              Show help information.

"""

    @Test func helpTextIsPinned() throws {
        let top = try cli.rechub(["--help"], environment: ["COLUMNS": "80"])
        #expect(top.status == 0)
        #expect(top.stdout == Self.topLevelHelp + "\n")
        let train = try cli.rechub(["train", "--help"], environment: ["COLUMNS": "80"])
        #expect(train.status == 0)
        #expect(train.stdout == Self.trainHelp + "\n")
    }

    @Test func printConfigAppliesSetAndResume() throws {
        let dir = try cli.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A config file with --set on top: the printed document has the override, not the file's value.
        let printed = try cli.rechub(["train", "--config", "Configs/esmm.yaml", "--set", "epochs=3",
                                      "--set", "tower_units=[32, 16]", "--print-config"],
                                     cwd: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                                        .deletingLastPathComponent().deletingLastPathComponent())
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stdout.contains("model: esmm"))
        #expect(printed.stdout.contains("epochs: 3") && !printed.stdout.contains("epochs: 1"), "\(printed.stdout)")
        #expect(printed.stdout.contains("32") && printed.stdout.contains("16"), "\(printed.stdout)")
        // A bad override is refused as training would refuse it, naming the key.
        let bad = try cli.rechub(["train", "--set", "epochs=-1", "--print-config"])
        #expect(bad.status != 0 && (bad.stdout + bad.stderr).contains("epochs"))

        // With --resume, the run's stored config with the new --set on top.
        let run = dir.appendingPathComponent("out").path
        let (trained, _) = try cli.trainTinyRun(in: dir, extra: ["--set", "monitor_every=0"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let resumed = try cli.rechub(["train", "--resume", run, "--set", "epochs=2", "--print-config"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("epochs: 2"), "\(resumed.stdout)")
        #expect(resumed.stdout.contains("num_experts: 2") && resumed.stdout.contains("output_dir: \(run)"), "\(resumed.stdout)")
    }

    /// The shared option groups validate before anything runs: a scoring batch of 0 or less is
    /// refused by evaluate and predict alike, naming the flag.
    @Test(arguments: ["evaluate", "predict"])
    func scoringBatchSizeIsValidated(command: String) throws {
        let r = try cli.rechub([command, "--checkpoint", "x.rhck", "--data", "x.csv", "--batch-size", "0"]
                               + (command == "predict" ? ["--out", "y.csv"] : []))
        #expect(r.status != 0)
        #expect(r.stderr.contains("--batch-size 0 is outside 1..."), "\(r.stderr)")
    }
}
