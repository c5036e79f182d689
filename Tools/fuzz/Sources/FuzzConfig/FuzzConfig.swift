// FuzzConfig: the input is a YAML config, optionally followed by a line `%%` and up to eight
// `key=value` lines, each applied as `rechub train --set` applies it; then the tree is read as
// a `TrainConfig` and printed back to YAML and parsed again. Thrown errors are fine.
import Foundation
import FuzzDriver
import RecHub

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    var yaml = text, overrides: [String] = []
    if let split = text.range(of: "\n%%\n") {
        yaml = String(text[..<split.lowerBound])
        overrides = text[split.upperBound...].split(separator: "\n").prefix(8).map(String.init)
    }
    guard var root = try? ConfigNode.parse(yaml: yaml, file: "fuzz.yaml") else { return 0 }
    for o in overrides {
        guard let next = try? root.setting(o) else { return 0 }
        root = next
    }
    _ = try? TrainConfig.parse(root)
    if let again = try? ConfigNode.parse(yaml: root.yaml(), file: "fuzz.yaml (printed)") {
        _ = try? TrainConfig.parse(again)
    }
    return 0
}

/// The executable's entry point (see FuzzDriver).
@_cdecl("FuzzConfig_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}
