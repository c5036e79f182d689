import CBLAS

/// Which of OpenBLAS's kernel sets ("cores") runs the products.
///
/// A `DYNAMIC_ARCH` OpenBLAS picks its core when it loads, from the CPU id, unless
/// `OPENBLAS_CORETYPE` names one. `rechub` never changes that choice: on some processors the
/// environment pins a core on purpose, because older OpenBLAS builds compute wrong results or
/// crash with the core they would pick. `rechub bench` prints the core with its sgemm figure,
/// so that numbers from different machines can be read side by side.
public enum BLASCore {
    /// The core OpenBLAS runs ("Haswell", "SkylakeX", …).
    public static var name: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }
}
