import ArgumentParser

/// `rechub`: train, evaluate, serve and benchmark multi-task recommendation models.
struct RecHubCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rechub",
        abstract: "Multi-task recommendation models (SharedBottom, ESMM, MMoE, PLE, AITM) trained data-parallel over MPI.",
        discussion: """
            Run alone for a single process, or under mpirun for data-parallel training:
              rechub train --config Configs/default.yaml
              mpirun -np 2 rechub train --config Configs/default.yaml
            """,
        subcommands: [TrainCommand.self, EvaluateCommand.self, PredictCommand.self, InspectCommand.self,
                      GenerateCommand.self, BenchCommand.self, ExportCommand.self, ReportCommand.self],
        defaultSubcommand: nil)
}
