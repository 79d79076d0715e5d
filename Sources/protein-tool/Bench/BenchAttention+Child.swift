#if canImport(Glibc)
import Glibc
#endif
import PerformerModel
import ProteinIO

/// One configuration of `bench attention`: what a child process measures.
struct AttentionBenchConfiguration {
    var kind: AttentionKind
    var causal: Bool
    var batch: Int
    var heads: Int
    var length: Int
    var headDim: Int
    var features: Int
    var repeats: Int
    /// 0 = the kernel's default `SliceParallelism`, 1 = serial, n = n workers.
    var workers: Int
    var chunk: Int
    var seed: UInt64

    var label: String { "\(kind.rawValue) \(causal ? "causal" : "bi") L=\(length)" }

    var parallelism: SliceParallelism? {
        switch workers {
        case 0: return nil
        case 1: return .serial
        default: return .workers(workers)
        }
    }

    /// The arguments that make a child process measure exactly this configuration.
    var childArguments: [String] {
        ["bench", "attention", "--child", "--kernels", kind.rawValue, "--lengths", String(length)]
            + (causal ? ["--causal"] : [])
            + ["--batch", String(batch), "--heads", String(heads), "--head-dim", String(headDim),
               "--features", String(features), "--repeats", String(repeats), "--workers", String(workers),
               "--chunk", String(chunk), "--seed", String(seed)]
    }

    /// Runs the configuration in this process: allocate, one warm-up step, `repeats` timed steps.
    /// Meant to run in a fresh process, so that the RSS before allocation is a clean baseline.
    func measure() -> AttentionBenchMeasurement {
        let loadAverage = ProcessLoad.oneMinuteAverage()
        let residentBefore = ProcessMemory.currentResidentBytes()
        let kernel = AttentionKernel(
            kind: kind, headDim: headDim, causal: causal, features: features, distribution: .orthogonal,
            seed: seed, chunk: chunk, parallelism: parallelism)
        let shape = [batch, heads, length, headDim]
        var generator = SeededGenerator(seed: seed &+ 0x9E37_79B9_7F4A_7C15)
        // Q, K, V, dOut [B, H, L, d] ~ N(0, 1); out and the gradients start at zero.
        let query = Tensor.normal(shape: shape, using: &generator)
        let key = Tensor.normal(shape: shape, using: &generator)
        let value = Tensor.normal(shape: shape, using: &generator)
        let dOut = Tensor.normal(shape: shape, using: &generator)
        let out = Tensor(shape: shape), dQuery = Tensor(shape: shape)
        let dKey = Tensor(shape: shape), dValue = Tensor(shape: shape)
        let saved = kernel.makeSaved(batch: batch, heads: heads, length: length)

        func step() -> (forward: Double, backward: Double) {
            let start = Clock.now()
            kernel.forward(out: out, query: query, key: key, value: value, saving: saved)
            let middle = Clock.now()
            dQuery.zero(); dKey.zero(); dValue.zero()
            let resumed = Clock.now()
            kernel.backward(dQuery: dQuery, dKey: dKey, dValue: dValue, dOut: dOut,
                            out: out, query: query, key: key, value: value, saved: saved)
            let end = Clock.now()
            return (middle - start, end - resumed)
        }
        _ = step()
        var forward: [Double] = [], backward: [Double] = [], total: [Double] = []
        for _ in 0..<repeats {
            let (f, b) = step()
            forward.append(f); backward.append(b); total.append(f + b)
        }
        // Keep the outputs observable so no step can be considered dead.
        var checksum: Float = 0
        for tensor in [out, dQuery, dKey, dValue] { checksum += tensor[0] + tensor[tensor.count - 1] }
        let peakResident = ProcessMemory.peakResidentBytes()
        return AttentionBenchMeasurement(
            seconds: Clock.median(total), forwardSeconds: Clock.median(forward),
            backwardSeconds: Clock.median(backward), minSeconds: total.min() ?? 0,
            residentBeforeBytes: residentBefore, peakResidentBytes: peakResident,
            peakBytes: peakResident - residentBefore,
            savedBytes: saved.savedByteCount, scratchBytes: saved.scratchByteCount,
            tensorBytes: 8 * 4 * query.count,
            workerCount: kind == .identity ? 1 : kernel.resolvedWorkerCount(slices: batch * heads),
            loadAverage: loadAverage, checksum: Double(checksum))
    }

    /// Runs `measure()` in a fresh child process (this executable with `--child`) and reads back
    /// its result line. A child that fails or is killed becomes a row with a note.
    func measureInChildProcess() -> AttentionBenchRow {
        let result = ChildProcess.run(arguments: childArguments)
        if let failure = result.failure {
            return AttentionBenchRow(configuration: self, measurement: nil, note: "failed: \(failure)", failed: true)
        }
        let line = result.standardOutput.split(separator: "\n").last { $0.hasPrefix(AttentionBenchMeasurement.linePrefix) }
        guard let line, let measurement = AttentionBenchMeasurement(childLine: String(line)) else {
            return AttentionBenchRow(configuration: self, measurement: nil,
                                     note: "failed: the child printed no result line", failed: true)
        }
        return AttentionBenchRow(configuration: self, measurement: measurement, note: nil)
    }
}

extension AttentionKernel {
    /// Workers the kernel uses for `slices` slices (its own choice when `parallelism` is nil).
    func resolvedWorkerCount(slices: Int) -> Int {
        (parallelism ?? .automatic(slices: slices)).workerCount(slices: slices)
    }
}

/// What one child measured. Times in seconds; memory in bytes.
struct AttentionBenchMeasurement {
    var seconds: Double
    var forwardSeconds: Double
    var backwardSeconds: Double
    var minSeconds: Double
    var residentBeforeBytes: Int
    var peakResidentBytes: Int
    /// peakResidentBytes − residentBeforeBytes.
    var peakBytes: Int
    var savedBytes: Int
    var scratchBytes: Int
    /// Q, K, V, out, dOut, dQ, dK, dV.
    var tensorBytes: Int
    var workerCount: Int
    /// The machine's 1-minute load average when the child started (other jobs share the cores).
    var loadAverage: Double
    var checksum: Double

    static let linePrefix = "attention-child-result"

    /// The child's result line: the prefix, then `key=value` fields separated by spaces.
    var childLine: String {
        let fields: [(String, String)] = [
            ("seconds", "\(seconds)"), ("forward_seconds", "\(forwardSeconds)"),
            ("backward_seconds", "\(backwardSeconds)"), ("min_seconds", "\(minSeconds)"),
            ("resident_before_bytes", "\(residentBeforeBytes)"), ("peak_resident_bytes", "\(peakResidentBytes)"),
            ("peak_bytes", "\(peakBytes)"), ("saved_bytes", "\(savedBytes)"), ("scratch_bytes", "\(scratchBytes)"),
            ("tensor_bytes", "\(tensorBytes)"), ("workers", "\(workerCount)"), ("load_average", "\(loadAverage)"), ("checksum", "\(checksum)"),
        ]
        return ([AttentionBenchMeasurement.linePrefix] + fields.map { "\($0.0)=\($0.1)" }).joined(separator: " ")
    }

    init(seconds: Double, forwardSeconds: Double, backwardSeconds: Double, minSeconds: Double,
         residentBeforeBytes: Int, peakResidentBytes: Int, peakBytes: Int, savedBytes: Int,
         scratchBytes: Int, tensorBytes: Int, workerCount: Int, loadAverage: Double, checksum: Double) {
        self.seconds = seconds
        self.forwardSeconds = forwardSeconds
        self.backwardSeconds = backwardSeconds
        self.minSeconds = minSeconds
        self.residentBeforeBytes = residentBeforeBytes
        self.peakResidentBytes = peakResidentBytes
        self.peakBytes = peakBytes
        self.savedBytes = savedBytes
        self.scratchBytes = scratchBytes
        self.tensorBytes = tensorBytes
        self.workerCount = workerCount
        self.loadAverage = loadAverage
        self.checksum = checksum
    }

    /// Parses `childLine`; nil when a field is missing or malformed.
    init?(childLine: String) {
        var values: [String: String] = [:]
        for field in childLine.split(separator: " ").dropFirst() {
            let parts = field.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            values[String(parts[0])] = String(parts[1])
        }
        func double(_ key: String) -> Double? { values[key].flatMap { Double($0) } }
        func int(_ key: String) -> Int? { values[key].flatMap { Int($0) } }
        guard let seconds = double("seconds"), let forward = double("forward_seconds"),
              let backward = double("backward_seconds"), let minimum = double("min_seconds"),
              let before = int("resident_before_bytes"), let peakResident = int("peak_resident_bytes"),
              let peak = int("peak_bytes"), let saved = int("saved_bytes"), let scratch = int("scratch_bytes"),
              let tensors = int("tensor_bytes"), let workers = int("workers"), let load = double("load_average"),
              let checksum = double("checksum")
        else { return nil }
        self.init(seconds: seconds, forwardSeconds: forward, backwardSeconds: backward, minSeconds: minimum,
                  residentBeforeBytes: before, peakResidentBytes: peakResident, peakBytes: peak,
                  savedBytes: saved, scratchBytes: scratch, tensorBytes: tensors, workerCount: workers,
                  loadAverage: load, checksum: checksum)
    }
}

/// One line of the result: a measurement, or a note saying why there is none.
struct AttentionBenchRow {
    var configuration: AttentionBenchConfiguration
    var measurement: AttentionBenchMeasurement?
    var note: String?
    var failed = false

    var label: String { configuration.label }

    var json: String {
        let c = configuration
        var fields: [(String, String)] = [
            ("kernel", JSONText.string(c.kind.rawValue)), ("causal", c.causal ? "true" : "false"),
            ("length", JSONText.number(c.length)),
            ("seconds", measurement.map { JSONText.number($0.seconds) } ?? "null"),
            ("peak_bytes", measurement.map { JSONText.number($0.peakBytes) } ?? "null"),
        ]
        if let m = measurement {
            fields += [
                ("forward_seconds", JSONText.number(m.forwardSeconds)),
                ("backward_seconds", JSONText.number(m.backwardSeconds)),
                ("min_seconds", JSONText.number(m.minSeconds)),
                ("tokens_per_second", JSONText.number(Double(c.batch * c.length) / m.seconds)),
                ("resident_before_bytes", JSONText.number(m.residentBeforeBytes)),
                ("peak_resident_bytes", JSONText.number(m.peakResidentBytes)),
                ("saved_bytes", JSONText.number(m.savedBytes)),
                ("scratch_bytes", JSONText.number(m.scratchBytes)),
                ("tensor_bytes", JSONText.number(m.tensorBytes)),
                ("workers", JSONText.number(m.workerCount)),
                ("load_average", JSONText.number(m.loadAverage)),
            ]
        }
        fields += [
            ("batch", JSONText.number(c.batch)), ("heads", JSONText.number(c.heads)),
            ("head_dim", JSONText.number(c.headDim)),
            ("features", JSONText.number(c.kind.usesRandomFeatures ? c.features : 0)),
            ("repeats", JSONText.number(c.repeats)),
        ]
        if c.causal && c.kind.usesRandomFeatures { fields.append(("chunk", JSONText.number(c.chunk))) }
        if let note {
            fields.append((failed ? "error" : "skipped", JSONText.string(note)))
        }
        return JSONText.object(fields)
    }
}

/// The machine's load average, from /proc/loadavg.
enum ProcessLoad {
    /// The 1-minute load average, or −1 when /proc/loadavg cannot be read.
    static func oneMinuteAverage() -> Double {
        guard let file = fopen("/proc/loadavg", "r") else { return -1 }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 128)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return -1 }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: " ").first.flatMap { Double($0) } ?? -1
    }
}

/// Runs this executable again with other arguments (posix_spawn, stdout through a pipe, stderr
/// inherited) and waits for it.
enum ChildProcess {
    struct Result {
        var standardOutput: String
        /// Why the child did not exit with status 0, or nil.
        var failure: String?
    }

    /// The path of the running executable: /proc/self/exe resolved, else argv[0].
    static var executablePath: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 {
            return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return CommandLine.arguments[0]
    }

    static func run(arguments: [String]) -> Result {
        let path = executablePath
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            return Result(standardOutput: "", failure: "pipe() failed (errno \(errno))")
        }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_addclose(&actions, readEnd)
        posix_spawn_file_actions_addclose(&actions, writeEnd)

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(writeEnd)
        guard spawned == 0 else {
            close(readEnd)
            return Result(standardOutput: "", failure: "cannot start \(path) (error \(spawned))")
        }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(readEnd, &chunk, chunk.count)
            if count > 0 { output += chunk[0..<count]; continue }
            if count < 0 && errno == EINTR { continue }
            break
        }
        close(readEnd)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = String(decoding: output, as: UTF8.self)
        let signal = status & 0x7f
        if signal != 0 {
            let hint = signal == SIGKILL ? " (out of memory?)" : ""
            return Result(standardOutput: text, failure: "child killed by signal \(signal)\(hint)")
        }
        let code = (status >> 8) & 0xff
        return Result(standardOutput: text, failure: code == 0 ? nil : "child exited with status \(code)")
    }
}
