import Foundation

/// Reads charts back out of report markup: the `<svg data-chart=…>` elements, their scales
/// (`data-x-domain`, `data-y-domain`, `data-plot`) and their series' path points in data units.
struct SVGReader {
    struct Chart {
        let markup: String
        let attributes: [String: String]

        var xDomain: (Double, Double) { pair("data-x-domain") }
        var yDomain: (Double, Double) { pair("data-y-domain") }
        var plot: [Double] { attributes["data-plot"]!.split(separator: " ").map { Double($0)! } }

        private func pair(_ key: String) -> (Double, Double) {
            let v = attributes[key]!.split(separator: " ").map { Double($0)! }
            return (v[0], v[1])
        }

        /// Elements `<tag …>` with their attributes, in order.
        func elements(_ tag: String) -> [[String: String]] {
            SVGReader.tags(tag, in: markup).map { SVGReader.attributes(of: $0) }
        }

        /// The `data-series` names of the curves.
        var seriesNames: [String] { elements("path").compactMap { $0["data-series"] } }

        /// The `data-reference` keys of the reference lines, and their y in data units.
        var references: [String: Double] {
            var out: [String: Double] = [:]
            for p in elements("path") {
                guard let key = p["data-reference"] else { continue }
                let numbers = p["d"]!.dropFirst().split(whereSeparator: { $0 == " " || $0 == "H" }).map { Double($0)! }
                out[key] = dataY(numbers[1])
            }
            return out
        }

        /// The texts of `<text>` elements (entities decoded).
        var texts: [String] {
            let regex = try! NSRegularExpression(pattern: "<text[^>]*>([^<]*)</text>")
            let ns = markup as NSString
            return regex.matches(in: markup, range: NSRange(location: 0, length: ns.length))
                .map { SVGReader.unescape(ns.substring(with: $0.range(at: 1))) }
        }

        func dataX(_ px: Double) -> Double {
            let (lo, hi) = xDomain, p = plot
            return lo + (px - p[0]) / p[2] * (hi - lo)
        }

        func dataY(_ py: Double) -> Double {
            let (lo, hi) = yDomain, p = plot
            return lo + (p[1] + p[3] - py) / p[3] * (hi - lo)
        }

        /// The series' path as segments of points in data units (a new segment at each `M`).
        func segments(_ name: String) -> [[(x: Double, y: Double)]]? {
            guard let path = elements("path").first(where: { $0["data-series"] == name }) else { return nil }
            var segments: [[(x: Double, y: Double)]] = []
            for command in SVGReader.commands(path["d"]!) {
                let p = (x: dataX(command.x), y: dataY(command.y))
                if command.move { segments.append([p]) } else { segments[segments.count - 1].append(p) }
            }
            return segments
        }

        /// All points of the series in data units.
        func points(_ name: String) -> [(x: Double, y: Double)]? { segments(name)?.flatMap { $0 } }
    }

    let html: String

    /// Every chart of the page, by `data-chart`.
    var charts: [String: Chart] {
        var out: [String: Chart] = [:]
        var rest = html[...]
        while let open = rest.range(of: "<svg "), let close = rest.range(of: "</svg>", range: open.upperBound..<rest.endIndex) {
            let markup = String(rest[open.lowerBound..<close.upperBound])
            let head = SVGReader.tags("svg", in: markup)[0]
            let attributes = SVGReader.attributes(of: head)
            out[attributes["data-chart"]!] = Chart(markup: markup, attributes: attributes)
            rest = rest[close.upperBound...]
        }
        return out
    }

    static func tags(_ tag: String, in markup: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: "<\(tag)\\s[^>]*>")
        let ns = markup as NSString
        return regex.matches(in: markup, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range) }
    }

    static func attributes(of tag: String) -> [String: String] {
        let regex = try! NSRegularExpression(pattern: "([a-zA-Z-]+)=\"([^\"]*)\"")
        let ns = tag as NSString
        var out: [String: String] = [:]
        for m in regex.matches(in: tag, range: NSRange(location: 0, length: ns.length)) {
            out[ns.substring(with: m.range(at: 1))] = unescape(ns.substring(with: m.range(at: 2)))
        }
        return out
    }

    static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    /// "M1 2 L3 4 M5 6" → [(move, 1, 2), (line, 3, 4), (move, 5, 6)].
    static func commands(_ d: String) -> [(move: Bool, x: Double, y: Double)] {
        var out: [(move: Bool, x: Double, y: Double)] = []
        var i = d.startIndex
        while i < d.endIndex {
            let c = d[i]
            guard c == "M" || c == "L" else { i = d.index(after: i); continue }
            let start = d.index(after: i)
            let end = d[start...].firstIndex(where: { $0 == "M" || $0 == "L" }) ?? d.endIndex
            let xy = d[start..<end].split(separator: " ").map { Double($0)! }
            out.append((c == "M", xy[0], xy[1]))
            i = end
        }
        return out
    }
}
