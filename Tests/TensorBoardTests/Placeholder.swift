import XCTest
// Placeholder so the test target builds; the first real test file replaces it.
