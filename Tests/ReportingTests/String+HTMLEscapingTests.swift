import Testing
@testable import Reporting

struct HTMLEscapingTests {
    @Test func htmlEscapingCoversMarkupAndQuotes() {
        #expect("<a href=\"x\">Tom's & co</a>".htmlEscaped == "&lt;a href=&quot;x&quot;&gt;Tom&#39;s &amp; co&lt;/a&gt;")
        #expect("a\u{0}b\u{1B}c\nd".htmlEscaped == "a\u{FFFD}b\u{FFFD}c\nd")
    }
}
