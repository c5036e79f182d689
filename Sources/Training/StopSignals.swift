#if canImport(Glibc)
import Glibc
#endif

/// SIGINT, SIGTERM and SIGUSR1, caught for the length of a training job. While it trains
/// (`Phase.training`), the first one asks the trainer to finish its step, write a checkpoint
/// and stop (on every rank, `MTLTrainer.stopRequest`), and a second one ends the process at
/// once, as the signal would have. Before training (loading or generating data, building the
/// model) and after it (the test evaluation, the run's files), there is no step to keep: the
/// process says so (rank 0) and ends at once with status 1; the checkpoints already written
/// hold everything the run trained.
///
/// SIGUSR1 is the one `mpirun` passes on to every rank of the job as it is (it turns SIGINT and
/// SIGTERM into a SIGTERM followed by SIGKILL one second later), and the one Slurm's
/// `--signal=USR1@<seconds>` sends ahead of a time limit; the Launch scripts turn a Ctrl-C into it.
public final class StopSignals: @unchecked Sendable {
    /// Where the job is, which decides what a signal does.
    public enum Phase: Int32, Sendable {
        /// Training steps: a signal is a stop request, polled after each step.
        case training = 0
        /// Before the first step: a signal ends the process at once.
        case preparing = 1
        /// After the last step: a signal ends the process at once.
        case finishing = 2
    }

    /// The caught signal (0 = none), then the phase, then whether to say why the process ends
    /// (1 on rank 0). Touched before any handler is installed, so the handler only reads them
    /// and stores into the first.
    nonisolated(unsafe) static let state: UnsafeMutablePointer<Int32> = {
        let p = UnsafeMutablePointer<Int32>.allocate(capacity: 3)
        p.initialize(repeating: 0, count: 3)
        return p
    }()

    /// "error: stopped by <signal> <phase's words>\n" for each caught signal and ending phase,
    /// made before the handlers are installed (a handler may only write them).
    nonisolated(unsafe) static let notes: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let p = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: 3 * 65)
        p.initialize(repeating: nil, count: 3 * 65)
        return p
    }()

    private var previous: [(Int32, sighandler_t?)] = []
    private var previousMask = sigset_t()

    /// Installs the handlers for `signals` (and clears an earlier request), in `phase`;
    /// `speaks`: whether this process says why it ends (rank 0).
    public init(_ signals: [Int32] = [SIGINT, SIGTERM, SIGUSR1], phase: Phase = .training, speaks: Bool = true) {
        Self.state[0] = 0
        Self.state[1] = phase.rawValue
        Self.state[2] = speaks ? 1 : 0
        for s in signals where s > 0 && s < 65 {
            let name = [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGUSR1: "SIGUSR1"][s] ?? "signal \(s)"
            let words = [Phase.preparing: "before training started: no step was taken, nothing to save",
                         Phase.finishing: "after training: its checkpoints hold the trained model (resume the run "
                            + "to evaluate it and write its metrics)"]
            for (phase, text) in words where Self.notes[Int(phase.rawValue) * 65 + Int(s)] == nil {
                Self.notes[Int(phase.rawValue) * 65 + Int(s)] = strdup("error: stopped by \(name) \(text)\n")
            }
            let old = signal(s) { caught in
                let phase = StopSignals.state[1]
                if phase != Phase.training.rawValue {  // nothing to finish: say so and end
                    if StopSignals.state[2] != 0, caught > 0, caught < 65,
                       let note = StopSignals.notes[Int(phase) * 65 + Int(caught)] {
                        _ = write(2, note, strlen(note))
                    }
                    _exit(1)
                }
                if StopSignals.state[0] != 0 {  // asked twice: stop now
                    signal(caught, SIG_DFL)
                    raise(caught)
                    return
                }
                StopSignals.state[0] = caught
            }
            previous.append((s, old))
        }
        // A parent may start us with these signals blocked (a test harness's dispatch source
        // does: the mask is inherited), which would leave them pending and never handled.
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_UNBLOCK, &set, &previousMask)
    }

    /// The signal caught so far, or 0.
    public var requested: Int32 { Self.state[0] }

    /// Where the job is now: a signal that arrives later acts accordingly (a request already
    /// recorded stays for its poller to see).
    public var phase: Phase {
        get { Phase(rawValue: Self.state[1]) ?? .training }
        set { Self.state[1] = newValue.rawValue }
    }

    /// Puts the previous handlers back.
    public func restore() {
        guard !previous.isEmpty else { return }
        for (s, old) in previous { signal(s, old) }
        previous = []
        pthread_sigmask(SIG_SETMASK, &previousMask, nil)
    }

    deinit { restore() }
}
