import Models

extension ModelGraph {
    /// SharedBottom (Caruana 1997): `h = MLP_bottom(x)`, `logit_t = Tower_t(h)`.
    /// - x: (B, F·E + D);  result: each task's logit, (B, 1).
    func sharedBottom(_ m: SharedBottom, x: String) throws(ONNXExportError) -> [String] {
        let h = try mlp(m.bottom, x)
        var logits: [String] = []
        for tower in m.towers.towers { logits.append(try mlp(tower, h)) }
        return logits
    }
}
