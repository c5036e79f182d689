import Foundation
@testable import Training
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM are caught while a job trains, and put back afterwards.
@Suite(.serialized) struct StopSignalsTests {
    func caughtMask() -> UInt64 {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("SigCgt:") } ?? ""
        return UInt64(line.split(separator: "\t").last.map(String.init) ?? "0", radix: 16) ?? 0
    }

    @Test func aSignalIsRecordedNotFatalAndHandlersArePutBack() {
        let before = caughtMask()
        let stops = StopSignals()
        #expect(caughtMask() & (1 << (UInt64(SIGTERM) - 1)) != 0, "SIGTERM is caught")
        #expect(stops.requested == 0)
        raise(SIGTERM)
        #expect(stops.requested == SIGTERM)
        stops.restore()
        #expect(caughtMask() == before)
    }

    /// SIGUSR1, the signal mpirun passes on to every rank unchanged (and Slurm's
    /// `--signal=USR1@…`), is a stop request too.
    @Test func sigusr1IsAStopRequest() {
        let stops = StopSignals()
        defer { stops.restore() }
        #expect(caughtMask() & (1 << (UInt64(SIGUSR1) - 1)) != 0, "SIGUSR1 is caught")
        raise(SIGUSR1)
        #expect(stops.requested == SIGUSR1)
    }

    /// The message says where the state is only when rank 0 confirmed writing it.
    @Test func theStopMessageClaimsOnlyAConfirmedCheckpoint() {
        let root = TrainingInterrupted(signal: SIGUSR1, step: 68, lastCheckpoint: "/r/step-00000068.rhck",
                                       checkpointWritten: true)
        #expect(root.description == "stopped by SIGUSR1 after step 68; its state is in /r/step-00000068.rhck (continue with --resume)")
        let other = TrainingInterrupted(signal: SIGTERM, step: 68, lastCheckpoint: nil, checkpointWritten: true)
        #expect(other.description.hasSuffix("rank 0 wrote its checkpoint of this step (continue with --resume)"))
        let unconfirmed = TrainingInterrupted(signal: SIGINT, step: 68, lastCheckpoint: nil)
        #expect(unconfirmed.description == "stopped by SIGINT after step 68; no checkpoint of this step was written")
        let off = TrainingInterrupted(signal: SIGINT, step: 3, lastCheckpoint: nil, checkpointsOn: false)
        #expect(off.description.hasSuffix("checkpoints are off, nothing was saved"))
    }
}
