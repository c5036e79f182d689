import Foundation
import Testing
@testable import Reporting

struct JSONValueTests {
    @Test func parsesEveryKindAndKeepsBooleansApart() throws {
        let v = try JSONValue.parse(Data(#"{"a": true, "b": 1, "c": [1.5, "x", null], "d": {"e": false}}"#.utf8))
        #expect(v == .object(["a": .bool(true), "b": .number(1), "c": .array([.number(1.5), .string("x"), .null]),
                              "d": .object(["e": .bool(false)])]))
    }

    @Test func displayTextAndFlattening() throws {
        let v = try JSONValue.parse(Data(#"{"lr": 0.001, "seed": 2022, "units": [256, 128], "data": {"generate": {"rows": 20000}, "x": {}}, "t": null}"#.utf8))
        let flat = v.flattened()
        #expect(flat.map(\.key) == ["data.generate.rows", "data.x", "lr", "seed", "t", "units"])
        #expect(flat.map(\.value.displayText) == ["20000", "{}", "0.001", "2022", "null", "[256, 128]"])
    }

    @Test func numberValueTakesNonFiniteSpellings() {
        #expect(JSONValue.string("-Infinity").numberValue == -.infinity)
        #expect(JSONValue.string("inf").numberValue == .infinity)
        #expect(JSONValue.null.numberValue!.isNaN)
        #expect(JSONValue.string("0.5").numberValue == nil)
        #expect(JSONValue.bool(true).numberValue == nil)
    }
}
