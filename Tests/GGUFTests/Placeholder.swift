import XCTest
final class GGUFTestsPlaceholder: XCTestCase { func testNothing() {} }
