import Kernels

/// Where the trainer's own step spends its time, phase by phase (DESIGN.md §4), with the part
/// of each phase spent inside `cblas_sgemm`. Attach one to `MTLTrainer.profiler`; `rechub bench
/// --profile` reads it. One thread only (it switches `GEMMProfile` on while attached).
///
/// ```
/// gather → forward → loss → backward → reduce → combine → update → after
/// ```
public final class StepProfiler: @unchecked Sendable {
    /// The phases of one training step, in order.
    public enum Phase: Int, CaseIterable, Sendable {
        /// This rank's slice of the batch: ids, dense values, labels, masks (and the global
        /// sample-space counts).
        case gather
        /// Once through the shared trunk and every task head.
        case forward
        /// Per-task losses and dLogits.
        case loss
        /// The backward pass(es).
        case backward
        /// All-reduce of gradients and losses, embedding-row exchange.
        case reduce
        /// The task-weighting strategy's combination of the per-task gradients.
        case combine
        /// Adam on the dense parameters and the touched embedding rows.
        case update
        /// Strategy state, monitor record, replica check.
        case after

        /// The phase's name in reports.
        public var name: String { String(describing: self) }
    }

    /// Wall seconds per phase, summed over the profiled steps.
    public private(set) var seconds: [Double]
    /// Seconds inside `cblas_sgemm` per phase, summed over the profiled steps.
    public private(set) var sgemmSeconds: [Double]
    /// Steps profiled.
    public private(set) var steps = 0
    private var mark = 0.0
    private var gemmMark = 0.0

    /// An empty profile.
    public init() {
        seconds = Array(repeating: 0, count: Phase.allCases.count)
        sgemmSeconds = seconds
    }

    /// Zeroes the totals (after warm-up steps).
    public func reset() {
        for i in seconds.indices { seconds[i] = 0; sgemmSeconds[i] = 0 }
        steps = 0
    }

    /// Mean seconds per step of each phase, and of sgemm within it.
    public func meanPerStep() -> [(phase: Phase, seconds: Double, sgemm: Double)] {
        let n = Double(max(steps, 1))
        return Phase.allCases.map { ($0, seconds[$0.rawValue] / n, sgemmSeconds[$0.rawValue] / n) }
    }

    /// Called by the trainer when a step starts.
    func beginStep() {
        GEMMProfile.enabled = true
        mark = monotonicSeconds()
        gemmMark = GEMMProfile.seconds
        steps += 1
    }

    /// Called by the trainer when `phase` ends: the time since the previous mark is its.
    func end(_ phase: Phase) {
        let now = monotonicSeconds(), g = GEMMProfile.seconds
        seconds[phase.rawValue] += now - mark
        sgemmSeconds[phase.rawValue] += g - gemmMark
        mark = now
        gemmMark = g
    }
}
