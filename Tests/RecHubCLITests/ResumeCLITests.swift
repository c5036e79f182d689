import Foundation
import Testing

/// kill -9 a training run (alone and under mpirun), resume it, and get the uninterrupted
/// run's parameters bit for bit; resume on another number of ranks; kill while writing.
@Suite(.serialized)
struct ResumeCLITests {
    static func settings(_ dir: URL, out: String) -> [String] {
        ["data.generate.rows=12000", "data.generate.val_rows=1000", "data.generate.test_rows=1000",
         "data.generate.scale=0.01", "data.generate.dir=\(dir.path)/data", "output_dir=\(dir.path)/\(out)",
         "expert_units=[64,32]", "num_experts=4", "tower_units=[16]", "batch_size=256", "threads=1", "epochs=12",
         "checkpoint_every=5", "keep_last=2"].flatMap { ["--set", $0] }
    }

    /// Starts `args`, waits until its checkpoint folder holds a step checkpoint past step 40,
    /// then kills the process (or one rank of mpirun) with SIGKILL.
    static func runAndKill(_ exe: String, _ args: [String], checkpoints: URL, killChild: Bool) throws -> (Int32, String) {
        let r = try MPITests.run(exe, args, timeout: 120) { p in
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? []
                if names.contains(where: { $0.hasPrefix("step-") && $0.hasSuffix(".rhck") && (Int($0.dropFirst(5).prefix(8)) ?? 0) > 40 }) {
                    break
                }
                usleep(20_000)
            }
            var victim = p.processIdentifier
            if killChild {
                let children = (try? String(contentsOfFile: "/proc/\(victim)/task/\(victim)/children", encoding: .utf8)) ?? ""
                victim = children.split(separator: " ").last.flatMap { Int32($0) } ?? victim
            }
            kill(victim, SIGKILL)
        }
        return (r.status, r.output)
    }

    @Test func killedSingleProcessResumesBitIdentical() throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = RecHubCLITests.binary.path
        let full = try MPITests.run(bin, ["train"] + Self.settings(dir, out: "full") + ["--save-parameters", "\(dir.path)/full.bin"])
        #expect(full.status == 0, "\(full.output)")
        let (status, _) = try Self.runAndKill(bin, ["train"] + Self.settings(dir, out: "cut"),
                                              checkpoints: dir.appendingPathComponent("cut/checkpoints"), killChild: false)
        #expect(status != 0, "the run should have been killed before finishing")
        let resumed = try MPITests.run(bin, ["train", "--resume", "\(dir.path)/cut/checkpoints",
                                             "--save-parameters", "\(dir.path)/resumed.bin"])
        #expect(resumed.status == 0 && resumed.output.contains("resumed from"), "\(resumed.output)")
        #expect(try Data(contentsOf: dir.appendingPathComponent("full.bin")) == Data(contentsOf: dir.appendingPathComponent("resumed.bin")),
                "resumed parameters differ from the uninterrupted run")
    }

    @Test(.enabled(if: mpirunPath != nil, "mpirun not found"))
    func killedRankResumesBitIdenticalAndOnOneRank() throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = RecHubCLITests.binary.path
        let mpi = [mpirunPath!, "-np", "2", "--bind-to", "none"]
        let full = try MPITests.run(mpi[0], Array(mpi.dropFirst()) + [bin, "train"] + Self.settings(dir, out: "full")
                                    + ["--save-parameters", "\(dir.path)/full.bin"])
        #expect(full.status == 0, "\(full.output)")
        let (status, _) = try Self.runAndKill(mpi[0], Array(mpi.dropFirst()) + [bin, "train"] + Self.settings(dir, out: "cut"),
                                              checkpoints: dir.appendingPathComponent("cut/checkpoints"), killChild: true)
        #expect(status != 0, "killing a rank must end the job with an error")
        // Keep a copy of the checkpoints for the one-rank resume below.
        try FileManager.default.copyItem(at: dir.appendingPathComponent("cut"), to: dir.appendingPathComponent("cut1"))
        let resumed = try MPITests.run(mpi[0], Array(mpi.dropFirst()) + [bin, "train", "--resume", "\(dir.path)/cut/checkpoints",
                                                                         "--save-parameters", "\(dir.path)/resumed.bin"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try Data(contentsOf: dir.appendingPathComponent("full.bin")) == Data(contentsOf: dir.appendingPathComponent("resumed.bin")),
                "2-rank resume differs from the uninterrupted 2-rank run")
        // The same checkpoint resumed on one rank (same global batch): equal up to summation order.
        // Over the ~500 Adam steps after the resume, rounding differences grow (Adam scales a
        // near-zero gradient up to a step of about lr = 1e-3 whatever its sign), so the bound is
        // on the relative RMS difference, with the largest single difference below one step.
        let one = try MPITests.run(bin, ["train", "--resume", "\(dir.path)/cut1/checkpoints", "--set", "output_dir=\(dir.path)/cut1",
                                         "--save-parameters", "\(dir.path)/one.bin"])
        #expect(one.status == 0, "\(one.output)")
        let a = try MPITests.load("\(dir.path)/full.bin"), b = try MPITests.load("\(dir.path)/one.bin")
        var worst: Float = 0, squares = 0.0, norm = 0.0
        for i in 0..<min(a.count, b.count) {
            worst = max(worst, abs(a[i] - b[i]))
            squares += Double(a[i] - b[i]) * Double(a[i] - b[i])
            norm += Double(a[i]) * Double(a[i])
        }
        let relative = (squares / max(norm, 1e-30)).squareRoot()
        #expect(a.count == b.count && worst < 1e-3 && relative < 1e-4,
                "1-rank resume of a 2-rank run: max difference \(worst), relative RMS difference \(relative)")
        print("1-rank resume of a 2-rank run: max difference \(worst), relative RMS difference \(relative)")
    }

    /// SIGKILL at arbitrary moments while a checkpoint is written every step: whatever is left
    /// in the folder is either a complete valid checkpoint or a temporary that is ignored.
    @Test func killWhileWritingLeavesOnlyValidCheckpoints() throws {
        let dir = try MPITests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = RecHubCLITests.binary.path
        let settings = Self.settings(dir, out: "w") + ["--set", "checkpoint_every=1", "--set", "keep_last=3"]
        var rng = SystemRandomNumberGenerator()
        for round in 0..<4 {
            let args = round == 0 ? ["train"] + settings : ["train", "--resume", "\(dir.path)/w/checkpoints"]
            let folder = dir.appendingPathComponent("w/checkpoints").path
            _ = try MPITests.run(bin, args, timeout: 120) { p in
                // Once checkpoints are being written (one per step), kill at a random moment.
                let deadline = Date().addingTimeInterval(90)
                while Date() < deadline,
                      !((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).contains(where: { $0.hasSuffix(".rhck") }) {
                    usleep(10_000)
                }
                usleep(UInt32.random(in: 0...400_000, using: &rng))
                kill(p.processIdentifier, SIGKILL)
            }
            let check = try MPITests.run(bin, ["inspect", try Self.newest(dir.appendingPathComponent("w/checkpoints"))])
            #expect(check.status == 0, "round \(round): \(check.output)")
            let names = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("w/checkpoints").path)
            for name in names where name.hasSuffix(".rhck") {
                let r = try MPITests.run(bin, ["inspect", dir.appendingPathComponent("w/checkpoints/\(name)").path])
                #expect(r.status == 0, "round \(round): \(name) is not valid: \(r.output)")
            }
        }
    }

    static func newest(_ dir: URL) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("step-") && $0.hasSuffix(".rhck") }
        return dir.appendingPathComponent(names.sorted().last ?? "none").path
    }
}
