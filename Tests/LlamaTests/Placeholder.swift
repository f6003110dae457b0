import XCTest
final class LlamaTestsPlaceholder: XCTestCase { func testNothing() {} }
