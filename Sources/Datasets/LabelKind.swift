/// What values a task's label column may hold.
public enum LabelKind: String, Sendable, Codable, Equatable, CaseIterable {
    /// A classification label: every value must be exactly 0 or 1.
    case binary
    /// A regression target: any finite Float32.
    case real
}
