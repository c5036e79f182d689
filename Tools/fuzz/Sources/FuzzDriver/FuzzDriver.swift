// FuzzDriver: the glue every fuzz target shares. SwiftPM links an executable with `main`
// renamed to `<Target>_main`; each target's `@_cdecl("<Target>_main")` calls `runFuzzer`,
// which hands control to libFuzzer's driver (the `-sanitize=fuzzer` runtime), as its own `main`
// would.

/// Runs libFuzzer's driver with the process's arguments and `testOneInput` as the target.
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                      _ testOneInput: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt {
    var argc = argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&argc, &argv, testOneInput)
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt
