@testable import Training
import Testing

/// ConfigTree.swift on its own: `ConfigNode` (YAML with origins, `--set` dotted overrides,
/// YAML text out) and `ConfigReader` (typed values whose errors name file, line and key;
/// unknown keys with "did you mean"). TrainConfigTests covers the same through
/// `TrainConfig.parse`; here the exact messages and the edges it does not reach.
struct ConfigTreeTests {
    func reader(_ yaml: String, file: String = "t.yaml") throws -> ConfigReader {
        try ConfigReader(ConfigNode.parse(yaml: yaml, file: file))
    }

    /// The error `body` throws, as a ConfigError (nil when it throws nothing or something else).
    func configError(_ body: () throws -> Void) -> ConfigError? {
        do { try body(); return nil } catch let e as ConfigError { return e } catch { return nil }
    }

    @Test func errorDescriptionNamesFileLineAndKey() {
        #expect(ConfigError(file: "a.yaml", key: "data.train", line: 4, message: "missing").description
                == "a.yaml:4: key 'data.train': missing")
        #expect(ConfigError(file: "--set", key: "epochs", message: "expected key=value").description
                == "--set: key 'epochs': expected key=value")
    }

    /// Typed reads: values, fallbacks for absent keys, and each type error naming the file, the
    /// value's own line and the dotted key, with the documented message.
    @Test func typedValuesAndTheirErrors() throws {
        let yaml = "n: 3\nx: 0.5\nflag: yes\noff: off\nname: abc\nsub:\n  deep: [1, 2]\n  word: five\nbig: 12\nlist: 7\n"
        let r = try reader(yaml)
        #expect(try r.int("n", 0) == 3 && r.int("absent", 9) == 9)
        #expect(try r.double("x", 0) == 0.5 && r.double("absent", 1.5) == 1.5)
        #expect(try r.bool("flag", false) == true && r.bool("off", true) == false && r.bool("absent", true) == true)
        #expect(try r.string("name") == "abc" && r.string("absent") == nil && r.string("absent", "d") == "d")
        let sub = try #require(try r.section("sub"))
        #expect(try sub.units("deep", []) == [1, 2] && sub.units("absent", [4]) == [4])
        #expect(try r.section("nothing") == nil)

        let notInt = configError { _ = try sub.int("word", 0) }
        #expect(notInt?.file == "t.yaml" && notInt?.line == 8 && notInt?.key == "sub.word" && notInt?.message == "expected an integer")
        let range = configError { _ = try r.int("big", 0, in: 1...10) }
        #expect(range?.line == 9 && range?.message == "12 is outside 1...10")
        let dRange = configError { _ = try r.double("x", 0, in: 1...2) }
        #expect(dRange?.key == "x" && dRange?.message == "0.5 is outside 1.0...2.0")
        #expect(configError { _ = try r.bool("name", false) }?.message == "expected true or false")
        #expect(configError { _ = try r.double("name", 0) }?.message == "expected a number")
        let listError = configError { _ = try r.units("list", []) }
        #expect(listError?.key == "list" && listError?.message == "expected a list of positive integers up to 16777216, e.g. [a, b]")
        let scalarSection = configError { _ = try r.section("name") }
        #expect(scalarSection?.key == "name" && scalarSection?.line == 5 && scalarSection?.message == "expected a mapping of key: value")
        #expect(configError { _ = try r.string("sub") }?.message == "expected a string")
    }

    /// A list item that does not convert is named by its index, on its own line.
    @Test func listItemErrorsNameTheIndex() throws {
        let r = try reader("units:\n  - 8\n  - -4\n")
        let e = configError { _ = try r.units("units", []) }
        #expect(e?.key == "units[1]" && e?.line == 3 && e?.message == "expected positive integers up to 16777216")
        // A width past 2²⁴ (products of widths would overflow the memory check's count).
        #expect(configError { _ = try reader("units: [8, 16777217]\n").units("units", []) }?.key == "units[1]")
        let nan = configError { _ = try ConfigReader(ConfigNode.parse(yaml: "v: .nan\n", file: "t.yaml")).double("v", 0) }
        #expect(nan?.message == "expected a number", "NaN is not a number here")
    }

    /// `finish` reports the first key nobody read; it suggests a read (or `known`) key within
    /// max(2, length / 3) edits and nothing when none is that close.
    @Test func unknownKeysAndDidYouMean() throws {
        let r = try reader("epochs: 1\nepoch: 2\nzzzzzz: 3\n")
        _ = try r.int("epochs", 0)
        let typo = configError { try r.finish() }
        #expect(typo?.key == "epoch" && typo?.line == 2 && typo?.message == "unknown key (did you mean 'epochs'?)")
        _ = try r.int("epoch", 0)
        let far = configError { try r.finish() }
        #expect(far?.key == "zzzzzz" && far?.line == 3 && far?.message == "unknown key")
        let viaKnown = try reader("lerning_rate: 1\n")
        #expect(configError { try viaKnown.finish(known: ["learning_rate"]) }?.message
                == "unknown key (did you mean 'learning_rate'?)")
        let nested = try reader("data:\n  lables: [a]\n")
        let data = try #require(try nested.section("data"))
        _ = try data.list("labels", "names") { $0 }
        #expect(configError { try data.finish() }?.key == "data.lables")
        #expect(editDistance("kitten", "sitting") == 3 && editDistance("", "abc") == 3 && editDistance("same", "same") == 0)
    }

    @Test func duplicateKeysAndNonTextKeysAreRefused() {
        let twice = configError { _ = try ConfigNode.parse(yaml: "a:\n  b: 1\n  b: 2\n", file: "d.yaml") }
        #expect(twice?.key == "a.b" && twice?.line == 3 && twice?.message == "appears twice")
        let listKey = configError { _ = try ConfigNode.parse(yaml: "? [1, 2]\n: x\n", file: "d.yaml") }
        #expect(listKey?.message == "mapping keys must be plain text")
        // A document that is not a mapping: the file as a whole, no key.
        let list = configError { _ = try ConfigReader(ConfigNode.parse(yaml: "[1, 2]", file: "l.yaml")) }
        #expect(list?.key == "" && list?.description == "l.yaml:1: a config is a mapping of key: value, not a single value or list",
                "\(String(describing: list))")
    }

    /// `--set` with dotted keys: replaces a nested value keeping its siblings, creates missing
    /// mappings, parses the value as YAML (a list), keeps text that YAML reads as no value at all
    /// (`#5`, a comment) as a plain string, removes a key with `null`, and refuses a path through a
    /// scalar or an assignment without `key=`, naming `--set` and the key.
    @Test func setOverridesWithDottedKeys() throws {
        var node = try ConfigNode.parse(yaml: "data:\n  train: a.csv\n  val: v.csv\nepochs: 1\n", file: "s.yaml")
        node = try node.setting("data.train=b.csv")
        node = try node.setting("opt.adam.lr=0.5")
        node = try node.setting("units=[4, 2]")
        node = try node.setting("note=#5")
        node = try node.setting("epochs=null")
        let r = try ConfigReader(node)
        let data = try #require(try r.section("data"))
        #expect(try data.string("train") == "b.csv" && data.string("val") == "v.csv")
        let adam = try #require(try r.section("opt")?.section("adam"))
        #expect(try adam.double("lr", 0) == 0.5)
        #expect(try r.units("units", []) == [4, 2])
        #expect(try r.string("note") == "#5", "text YAML reads as nothing (a comment) stays text")
        #expect(!r.has("epochs"), "null removes the key")
        // A value set by --set names --set in its errors.
        let bad = try node.setting("data.train=[x]")
        let e = configError { _ = try ConfigReader(bad).section("data")?.string("train") }
        #expect(e?.file == "--set data.train" && e?.key == "data.train" && e?.message == "expected a string")
        let through = configError { _ = try node.setting("data.train.x=1") }
        #expect(through?.file == "--set" && through?.key == "data.train.x" && through?.message == "'x' is inside a value that is not a mapping")
        let noEquals = configError { _ = try node.setting("epochs") }
        #expect(noEquals?.file == "--set" && noEquals?.key == "epochs" && noEquals?.message == "expected key=value")
        #expect(configError { _ = try node.setting("=3") }?.message == "expected key=value")
        // Removing a top-level key that is not there changes nothing.
        #expect(try node.setting("absent=null").yaml() == node.yaml())
    }

    /// `yaml()` quotes what YAML would read as something else (booleans, null, text with ': ' or
    /// a quote, the empty string): parsing it again gives the same values.
    @Test func yamlTextRoundTrips() throws {
        let source = "a: 'true'\nb: 'it''s'\nc: 'x: y'\nd: ''\ne: [1, 'no', 'null']\nf:\n  g: h\n  i: {}\n"
        let node = try ConfigNode.parse(yaml: source, file: "r.yaml")
        let again = try ConfigNode.parse(yaml: node.yaml(), file: "r2.yaml")
        #expect(again.yaml() == node.yaml())
        let r = try ConfigReader(again)
        #expect(try r.string("a") == "true" && r.string("b") == "it's" && r.string("c") == "x: y" && r.string("d") == "")
        #expect(try r.list("e", "text") { $0 } == ["1", "no", "null"])
        #expect(try r.section("f")?.string("g") == "h")
        #expect(node.yaml() == "a: 'true'\nb: 'it''s'\nc: 'x: y'\nd: ''\ne: [1, 'no', 'null']\nf:\n  g: h\n  i: {}")
    }
}
