#if canImport(Glibc)
import Glibc
#endif

/// SIGINT, SIGTERM and SIGUSR1, caught for the length of a training run: the first one asks the
/// trainer to finish its step, write a checkpoint and stop (on every rank,
/// `MTLTrainer.stopRequest`); a second one ends the process at once, as the signal would have.
///
/// SIGUSR1 is the one `mpirun` passes on to every rank of the job as it is (it turns SIGINT and
/// SIGTERM into a SIGTERM followed by SIGKILL one second later), and the one Slurm's
/// `--signal=USR1@<seconds>` sends ahead of a time limit; the Launch scripts turn a Ctrl-C into it.
public final class StopSignals: @unchecked Sendable {
    /// The caught signal (0 = none). Touched before any handler is installed, so the handler
    /// only stores into it.
    nonisolated(unsafe) static let flag: UnsafeMutablePointer<Int32> = {
        let p = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()

    private var previous: [(Int32, sighandler_t?)] = []
    private var previousMask = sigset_t()

    /// Installs the handlers for `signals` (and clears an earlier request).
    public init(_ signals: [Int32] = [SIGINT, SIGTERM, SIGUSR1]) {
        Self.flag.pointee = 0
        for s in signals {
            let old = signal(s) { caught in
                if StopSignals.flag.pointee != 0 {  // asked twice: stop now
                    signal(caught, SIG_DFL)
                    raise(caught)
                    return
                }
                StopSignals.flag.pointee = caught
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
    public var requested: Int32 { Self.flag.pointee }

    /// Puts the previous handlers back.
    public func restore() {
        guard !previous.isEmpty else { return }
        for (s, old) in previous { signal(s, old) }
        previous = []
        pthread_sigmask(SIG_SETMASK, &previousMask, nil)
    }

    deinit { restore() }
}
