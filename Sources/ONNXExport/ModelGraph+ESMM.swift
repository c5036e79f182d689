import Models

extension ModelGraph {
    /// ESMM (Ma et al., SIGIR 2018, §2.2–2.3): `z_ctr = Tower_0(x)`, `z_cvr = Tower_1(x)`, both on
    /// the shared input.
    /// - x: (B, F·E + D);  result: (z_ctr, z_cvr), each (B, 1).
    func esmm(_ m: ESMM, x: String) throws(ONNXExportError) -> (ctr: String, cvr: String) {
        let towers = m.towers.towers
        guard towers.count == 2 else {
            throw .unsupportedShape(model: "esmm", reason: "\(towers.count) towers (ESMM has a CTR and a CVR tower)")
        }
        return (try mlp(towers[0], x), try mlp(towers[1], x))
    }
}
