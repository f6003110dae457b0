import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import TestSupport

/// `mirror-sd serve --port 0` in a child process, on a free loopback port it reads from stderr.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    private(set) var port = 0
    private let errPipe = Pipe()
    private let lock = NSLock()
    private var errText = ""

    static var binary: URL {
        let bundle = Bundle(for: ServerProcess.self).bundleURL
        let candidates = [bundle.appendingPathComponent("mirror-sd"),
                          bundle.deletingLastPathComponent().appendingPathComponent("mirror-sd"),
                          Paths.packageRoot.appendingPathComponent(".build/debug/mirror-sd")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    init(_ args: [String]) throws {
        process.executableURL = Self.binary
        process.arguments = ["serve", "--port", "0"] + args
        process.currentDirectoryURL = Paths.packageRoot
        process.standardError = errPipe
        process.standardOutput = FileHandle.nullDevice
        let ready = DispatchSemaphore(value: 0)
        errPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.lock.lock()
            self.errText += String(decoding: d, as: UTF8.self)
            let text = self.errText
            self.lock.unlock()
            if self.port == 0, let r = text.range(of: "listening on http://127.0.0.1:") {
                let digits = text[r.upperBound...].prefix { $0.isNumber }
                self.port = Int(digits) ?? 0
                ready.signal()
            }
        }
        try process.run()
        guard ready.wait(timeout: .now() + 180) == .success, port > 0 else {
            process.terminate()
            throw ServerError("the server did not start: \(stderr)")
        }
    }

    var stderr: String { lock.lock(); defer { lock.unlock() }; return errText }

    /// SIGTERM, then the exit status.
    func stop() -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        errPipe.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }

    deinit { if process.isRunning { process.terminate() } }

    // MARK: Requests through URLSession

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func request(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) throws -> Reply {
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        req.httpMethod = method
        req.httpBody = body
        req.timeoutInterval = 600
        if body != nil { req.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<Reply, any Error> = .failure(ServerError("no answer"))
        URLSession.shared.dataTask(with: req) { data, response, error in
            if let error { result = .failure(error) } else if let http = response as? HTTPURLResponse {
                var h: [String: String] = [:]
                for (k, v) in http.allHeaderFields { h[String(describing: k).lowercased()] = String(describing: v) }
                result = .success(Reply(status: http.statusCode, headers: h, body: data ?? Data()))
            }
            done.signal()
        }.resume()
        done.wait()
        return try result.get()
    }

    func post(_ path: String, _ object: [String: Any], headers: [String: String] = [:]) throws -> Reply {
        try request("POST", path, body: JSONSerialization.data(withJSONObject: object), headers: headers)
    }
}

struct ServerError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

/// The text of a chat or completion response, or of an SSE stream of chunks.
func completionText(_ json: [String: Any]) -> String? {
    guard let c = (json["choices"] as? [[String: Any]])?.first else { return nil }
    if let m = c["message"] as? [String: Any] { return m["content"] as? String }
    return c["text"] as? String
}

func streamedText(_ sse: String) throws -> (text: String, done: Bool, finish: String?) {
    var text = "", finish: String? = nil, done = false
    for line in sse.components(separatedBy: "\n") where line.hasPrefix("data: ") {
        let payload = String(line.dropFirst(6))
        if payload == "[DONE]" { done = true; continue }
        guard let obj = try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { continue }
        guard let c = (obj["choices"] as? [[String: Any]])?.first else { continue }
        if let d = c["delta"] as? [String: Any], let t = d["content"] as? String { text += t }
        if let t = c["text"] as? String { text += t }
        if let f = c["finish_reason"] as? String { finish = f }
    }
    return (text, done, finish)
}

/// A client on a plain socket, for what URLSession cannot do on cue: hang up mid-stream.
final class RawClient {
    let fd: Int32

    init(port: Int, path: String, json: [String: Any]) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError("socket failed") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw ServerError("connect failed") }
        let body = try JSONSerialization.data(withJSONObject: json)
        let head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
        let bytes = Data(head.utf8) + body
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Reads until `marker` appears or `seconds` pass; everything read so far.
    func read(until marker: String, seconds: Double) -> String {
        var got = Data()
        let deadline = Date().addingTimeInterval(seconds)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 200) > 0 else { continue }
            let n = recv(fd, &buf, buf.count, 0)
            if n < 0 && errno == EINTR { continue }  // SIGCHLD when the server exits
            if n <= 0 { break }
            got.append(contentsOf: buf[0..<n])
            if String(decoding: got, as: UTF8.self).contains(marker) { break }
        }
        return String(decoding: got, as: UTF8.self)
    }

    func hangUp() { close(fd) }

    /// The body of a raw HTTP/1.1 response, with chunked transfer decoded (on bytes: Swift reads
    /// "\r\n" as one Character). A cut-off last chunk is kept as far as it came.
    static func body(_ raw: String) -> String {
        let b = Array(raw.utf8)
        func find(_ pat: [UInt8], from: Int) -> Int? {
            guard b.count >= pat.count else { return nil }
            var i = from
            while i + pat.count <= b.count { if Array(b[i..<i + pat.count]) == pat { return i }; i += 1 }
            return nil
        }
        let crlf: [UInt8] = [13, 10]
        guard let headEnd = find(crlf + crlf, from: 0) else { return "" }
        let head = String(decoding: b[..<headEnd], as: UTF8.self).lowercased()
        var pos = headEnd + 4
        guard head.contains("transfer-encoding: chunked") else { return String(decoding: b[pos...], as: UTF8.self) }
        var out: [UInt8] = []
        while let eol = find(crlf, from: pos), let size = Int(String(decoding: b[pos..<eol], as: UTF8.self), radix: 16), size > 0 {
            let start = eol + 2, end = min(start + size, b.count)
            out += b[start..<end]
            pos = end + 2
        }
        return String(decoding: out, as: UTF8.self)
    }
}
