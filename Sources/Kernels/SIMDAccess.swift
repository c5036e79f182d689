/// Eight-lane loads and stores at any alignment: the element-wise kernels (activations, Adam,
/// expert mixture, batch norm) run on `SIMD8<Float>`, because their scalar loops do not
/// vectorize (selects, square roots, serial sums).
extension SIMD8 where Scalar == Float {
    /// Eight floats from `p` (any alignment).
    @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Eight floats from `p` (any alignment).
    @inline(__always)
    public static func load(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { load(UnsafePointer(p)) }

    /// Stores the eight lanes at `p` (any alignment).
    @inline(__always)
    public func store(_ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: self, as: SIMD8<Float>.self)
    }
}
