import Foundation
import Testing
@testable import PerformerModel

@Suite struct MetricsLogTests {
    static func record(_ step: Int, validation: Double? = nil, loss: Double = 2.5) -> MetricsRecord {
        MetricsRecord(step: step, loss: loss, learningRate: Double(Float(3e-4)), tokensPerSecond: 12345.678,
                      validationPerplexity: validation, gradientNorm: 0.91234567, elapsedSeconds: Double(step) * 1.5)
    }

    static func lines(_ path: String) throws -> [String] {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    @Test func linesHaveStableKeysAndNonFiniteNumbersBecomeNull() {
        #expect(Self.record(1200, validation: 14.21013).jsonLine
                == #"{"step":1200,"loss":2.5,"lr":0.0003,"tokens_per_s":12345.7,"val_ppl":14.2101,"grad_norm":0.912346,"elapsed_s":1800.00}"#)
        #expect(Self.record(3).jsonLine
                == #"{"step":3,"loss":2.5,"lr":0.0003,"tokens_per_s":12345.7,"grad_norm":0.912346,"elapsed_s":4.50}"#)
        let odd = MetricsRecord(step: 0, loss: .nan, learningRate: 1e-5, tokensPerSecond: .infinity,
                                validationPerplexity: -.infinity, gradientNorm: 1e300, elapsedSeconds: 0)
        #expect(odd.jsonLine
                == #"{"step":0,"loss":null,"lr":1e-05,"tokens_per_s":null,"val_ppl":null,"grad_norm":1e+300,"elapsed_s":0.00}"#)
    }

    @Test func everyLineParsesAsJSON() throws {
        let dir = try ScratchDirectory("metrics")
        defer { dir.remove() }
        let path = dir.file("metrics.jsonl")
        let log = try MetricsLog(path: path, mode: .fresh)
        let losses: [Double] = [2.5, .nan, .infinity, -0.0, .leastNonzeroMagnitude, 123456789.123, -.infinity]
        for (i, loss) in losses.enumerated() {
            try log.append(Self.record(i + 1, validation: i % 2 == 0 ? Double(i) * 1.1 : nil, loss: loss))
        }
        log.close()
        let lines = try Self.lines(path)
        #expect(lines.count == losses.count + 1 && lines.last == "")
        for (i, line) in lines.dropLast().enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "line \(i + 1): \(line)")
            #expect(object["step"] as? Int == i + 1)
            #expect(object.keys.contains("val_ppl") == (i % 2 == 0))
            #expect(Set(object.keys).isSuperset(of: ["step", "loss", "lr", "tokens_per_s", "grad_norm", "elapsed_s"]))
            if !losses[i].isFinite { #expect(object["loss"] is NSNull) }
        }
        #expect(throws: CheckpointError.self) { try log.append(Self.record(99)) }
    }

    @Test func resumeDropsLinesAfterTheCheckpointAndATornLine() throws {
        let dir = try ScratchDirectory("metrics-resume")
        defer { dir.remove() }
        let path = dir.file("metrics.jsonl")
        do {
            let log = try MetricsLog(path: path, mode: .fresh)
            for step in 1...10 { try log.append(Self.record(step * 10)) }
        }
        // A kill in the middle of a write leaves a torn last line.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"step":110,"loss":2."#.utf8))
        try handle.close()

        let resumed = try MetricsLog(path: path, mode: .resume(afterStep: 60))
        #expect(resumed.keptLines == 6 && resumed.droppedLines == 5)
        for step in 7...8 { try resumed.append(Self.record(step * 10)) }
        resumed.close()
        let steps = try Self.lines(path).dropLast().map { line -> Int in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            return object?["step"] as? Int ?? -1
        }
        #expect(steps == [10, 20, 30, 40, 50, 60, 70, 80])

        // Resuming at a step beyond the log keeps everything; a missing file is created empty.
        let again = try MetricsLog(path: path, mode: .resume(afterStep: 1000))
        #expect(again.keptLines == 8 && again.droppedLines == 0)
        let fresh = try MetricsLog(path: dir.file("new.jsonl"), mode: .resume(afterStep: 5))
        #expect(fresh.keptLines == 0 && fresh.droppedLines == 0)
        #expect(FileManager.default.fileExists(atPath: dir.file("new.jsonl")))
        // Resume at step 0 empties the log.
        _ = try MetricsLog(path: path, mode: .resume(afterStep: 0))
        #expect(try Self.lines(path) == [""])
    }

    @Test func prefixStopsAtTheFirstLineThatIsNotAKeptStep() {
        let text = "{\"step\":1}\n{\"step\":2}\n\n{\"step\":3}\n"
        let result = MetricsLog.prefixToKeep(Array(text.utf8), resumeStep: 5)
        #expect(result.bytes == 22 && result.kept == 2 && result.dropped == 1)
        #expect(MetricsLog.step(of: ArraySlice(#"{"loss":1,"step":7}"#.utf8)) == 7)
        #expect(MetricsLog.step(of: ArraySlice(#"{"step":-7}"#.utf8)) == nil)
        #expect(MetricsLog.step(of: ArraySlice("[1]".utf8)) == nil)
    }

    @Test func unopenableLogIsAnError() throws {
        let dir = try ScratchDirectory("metrics-bad")
        defer { dir.remove() }
        #expect(throws: CheckpointError.self) { _ = try MetricsLog(path: dir.file("no/such/dir/m.jsonl"), mode: .fresh) }
        #expect(throws: CheckpointError.self) { _ = try MetricsLog(path: dir.path, mode: .resume(afterStep: 1)) }
    }
}

@Suite struct ProgressLineTests {
    @Test func formatsStepLossThroughputETAAndValidation() {
        #expect(ProgressLine.format(step: 1200, totalSteps: 100_000, loss: 2.81234, tokensPerSecond: 12345.6,
                                    etaSeconds: 5025, validationPerplexity: 14.2138)
                == "step   1200/100000  loss 2.8123  12,346 tok/s  ETA 1:23:45  val ppl 14.21")
        #expect(ProgressLine.format(step: 0, totalSteps: 10, loss: nil, tokensPerSecond: nil, etaSeconds: nil)
                == "step  0/10  loss -  - tok/s  ETA --:--:--")
        #expect(ProgressLine.format(step: 10, totalSteps: 10, loss: .nan, tokensPerSecond: 999.4, etaSeconds: 0)
                == "step 10/10  loss nan  999 tok/s  ETA 0:00:00")
        // A --time-limit-only run has no step count: no total, ETA from the time left.
        #expect(ProgressLine.format(step: 1431, totalSteps: nil, loss: 2.66951, tokensPerSecond: 27515, etaSeconds: 0)
                == "step 1431  loss 2.6695  27,515 tok/s  ETA 0:00:00")
    }

    @Test func durationsAndGrouping() {
        #expect(ProgressLine.duration(59.4) == "0:00:59")
        #expect(ProgressLine.duration(59.6) == "0:01:00")
        #expect(ProgressLine.duration(3600) == "1:00:00")
        #expect(ProgressLine.duration(443_045) == "123:04:05")
        #expect(ProgressLine.duration(-1) == "--:--:--" && ProgressLine.duration(.infinity) == "--:--:--")
        #expect(ProgressLine.grouped(1_234_567.5) == "1,234,568" && ProgressLine.grouped(-1234) == "-1,234")
        #expect(ProgressLine.grouped(0) == "0" && ProgressLine.grouped(999) == "999" && ProgressLine.grouped(1000) == "1,000")
        #expect(ProgressLine.eta(stepsDone: 10, totalSteps: 100, elapsedSeconds: 20) == 180)
        #expect(ProgressLine.eta(stepsDone: 0, totalSteps: 100, elapsedSeconds: 20) == nil)
    }

    /// Collects what a `ProgressLine` writes (the output closure runs synchronously).
    final class Capture: @unchecked Sendable {
        var text = ""
    }

    @Test func terminalRedrawsOneLinePlainOutputPrintsLogSteps() {
        let tty = Capture()
        var line = ProgressLine(isTerminal: true) { tty.text += $0 }
        line.update("a", isLogStep: false)
        line.update("b", isLogStep: true)
        line.message("checkpoint saved")
        line.finish()
        #expect(tty.text == "\ra\u{1B}[K\rb\u{1B}[K\r\u{1B}[Kcheckpoint saved\n\rb\u{1B}[K\n")

        let plain = Capture()
        var log = ProgressLine(isTerminal: false) { plain.text += $0 }
        log.update("a", isLogStep: false)
        log.update("b", isLogStep: true)
        log.message("checkpoint saved")
        log.finish()
        #expect(plain.text == "b\ncheckpoint saved\n")
        #expect(ProgressLine.render("x", isTerminal: false) == "x\n")
    }
}
