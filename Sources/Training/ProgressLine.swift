#if canImport(Glibc)
import Glibc
#endif
import Kernels

/// The training progress line: samples/s and running loss per task, rewritten in place on
/// a terminal and printed as plain lines otherwise (logs, CI, `mpirun` output).
public final class ProgressLine: @unchecked Sendable {
    /// Whether standard output is a terminal.
    public let interactive: Bool
    /// Plain-line mode prints every this many steps.
    public let plainEvery: Int
    private var lastLength = 0
    private var lastDraw = 0.0

    /// Detects the terminal; plain lines every `plainEvery` steps otherwise.
    public init(plainEvery: Int = 100, interactive: Bool? = nil) {
        self.interactive = interactive ?? (isatty(1) != 0)
        self.plainEvery = max(1, plainEvery)
    }

    /// Shows step `step` of `total` in epoch `epoch`; redraws at most 10 times a second on a terminal.
    public func update(epoch: Int, step: Int, total: Int, samplesPerSecond: Double, losses: [(String, Double)],
                       extra: String = "") {
        let text = "epoch \(epoch) step \(step)/\(total)  \(format(samplesPerSecond, 0)) samples/s  "
            + losses.map { "\($0.0) loss \(format($0.1, 5))" }.joined(separator: "  ") + (extra.isEmpty ? "" : "  " + extra)
        if interactive {
            let now = monotonicSeconds()
            guard now - lastDraw >= 0.1 || step == total else { return }
            lastDraw = now
            let pad = max(0, lastLength - text.count)
            emit("\r" + text + String(repeating: " ", count: pad))
            lastLength = text.count
        } else if step % plainEvery == 0 || step == total {
            emit(text + "\n")
        }
    }

    /// Ends the in-place line so that the next output starts on a fresh line.
    public func finish() {
        if interactive && lastLength > 0 { emit("\n") }
        lastLength = 0
    }

    private func emit(_ s: String) { writeStandardOutput(s) }
}

/// Writes `text` to standard output unbuffered, so report lines and the progress line
/// keep their order whether stdout is a terminal, a pipe or a file.
public func writeStandardOutput(_ text: String) {
    var t = text
    t.withUTF8 { buf in
        var offset = 0
        while offset < buf.count {
            let n = write(1, buf.baseAddress! + offset, buf.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}

/// Prints `line` and a newline through `writeStandardOutput`.
public func printLine(_ line: String) { writeStandardOutput(line + "\n") }
