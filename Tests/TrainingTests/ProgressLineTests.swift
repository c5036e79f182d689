import Foundation
@testable import Training
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `ProgressLine` and the unbuffered stdout writers beside it, on their exact output: standard
/// output (descriptor 1) is redirected into a file while a test writes. Every line here carries
/// epoch 9173 or a `progress-line-test` marker; whatever else the process prints meanwhile (other
/// suites run in parallel) is passed back to the real standard output afterwards.
@Suite(.serialized)
struct ProgressLineTests {
    /// What `body` wrote to descriptor 1, and only the parts with `marker`.
    static func captured(_ marker: String, _ body: () -> Void) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("progress-\(getpid())-\(marker.hashValue).txt").path
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        defer { close(fd); unlink(path) }
        fflush(nil)
        let saved = dup(1)
        try #require(saved >= 0)
        dup2(fd, 1)
        body()
        fflush(nil)
        dup2(saved, 1)
        close(saved)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        // Pass other writers' lines through; keep ours (every piece of ours holds the marker).
        var mine = "", foreign = ""
        for piece in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if piece.contains(marker) { mine += piece + "\n" } else { foreign += piece + "\n" }
        }
        let tail = text.split(separator: "\n", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        if tail.contains(marker) { mine += tail } else { foreign += tail }
        if !foreign.isEmpty { writeStandardOutput(foreign) }
        return mine
    }

    static let losses: [(String, Double)] = [("click", 0.123456), ("purchase", 0.01)]

    /// Not on a terminal: one plain line every `plainEvery` steps and at the last step, none
    /// in between, nothing from `finish`; the text shows samples/s with no decimals and each
    /// task's loss with five, then the extra text.
    @Test func plainModePrintsEveryNthStepAndTheLast() throws {
        let line = ProgressLine(plainEvery: 3, interactive: false)
        let out = try Self.captured("epoch 9173 ") {
            for step in 1...7 {
                line.update(epoch: 9173, step: step, total: 7, samplesPerSecond: 1234.56, losses: Self.losses,
                            extra: step == 7 ? "w 1.00" : "")
            }
            line.finish()
        }
        #expect(out == """
            epoch 9173 step 3/7  1235 samples/s  click loss 0.12346  purchase loss 0.01000
            epoch 9173 step 6/7  1235 samples/s  click loss 0.12346  purchase loss 0.01000
            epoch 9173 step 7/7  1235 samples/s  click loss 0.12346  purchase loss 0.01000  w 1.00

            """)
    }

    /// `plainEvery` below 1 means every step; with standard output a file (as here), the
    /// default detection picks plain lines.
    @Test func plainEveryIsAtLeastOneAndAFileIsNotATerminal() throws {
        var detected: ProgressLine?
        let out = try Self.captured("epoch 9173 ") {
            detected = ProgressLine(plainEvery: 0)
            for step in 1...2 { detected!.update(epoch: 9173, step: step, total: 5, samplesPerSecond: 10, losses: []) }
        }
        #expect(detected?.interactive == false && detected?.plainEvery == 1)
        #expect(out == "epoch 9173 step 1/5  10 samples/s  \nepoch 9173 step 2/5  10 samples/s  \n")
    }

    /// On a terminal: the line is rewritten in place after "\r", padded with spaces over a
    /// longer previous line; the last step is always drawn; `finish` ends the line once.
    @Test func interactiveModeRewritesInPlace() throws {
        let line = ProgressLine(interactive: true)
        let first = "epoch 9173 step 1/4  50 samples/s  click loss 0.50000  a long extra text"
        let last = "epoch 9173 step 4/4  50 samples/s  click loss 0.25000"
        let out = try Self.captured("epoch 9173 ") {
            line.update(epoch: 9173, step: 1, total: 4, samplesPerSecond: 50, losses: [("click", 0.5)],
                        extra: "a long extra text")
            line.update(epoch: 9173, step: 4, total: 4, samplesPerSecond: 50, losses: [("click", 0.25)])
            line.finish()
            line.finish()
        }
        let pad = String(repeating: " ", count: first.count - last.count)
        #expect(out == "\r" + first + "\r" + last + pad + "\n")
    }

    @Test func printLineAddsOneNewline() throws {
        let out = try Self.captured("progress-line-test") {
            printLine("progress-line-test a")
            writeStandardOutput("progress-line-test b\n")
        }
        #expect(out == "progress-line-test a\nprogress-line-test b\n")
    }
}
