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
}
