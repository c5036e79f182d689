extension String {
    /// The string safe as HTML or SVG text and inside a double- or single-quoted attribute:
    /// `&`, `<`, `>`, `"` and `'` become character references (HTML Living Standard §13.1.4);
    /// control characters other than tab, newline and carriage return, which HTML forbids,
    /// become U+FFFD.
    public var htmlEscaped: String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for scalar in unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
