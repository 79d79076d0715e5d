import ArgumentParser
import PerformerModel
import ProteinIO

/// `protein-tool bench sgemm`: the machine's single-precision GEMM rate through OpenBLAS, the
/// reference every other throughput number is compared with.
struct BenchSgemm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sgemm",
        abstract: "Measure OpenBLAS sgemm GFLOP/s for square matrices (median of repeats).",
        discussion: """
            Times C = A·B for n×n Float32 matrices (2·n³ floating-point operations per product) with
            the OpenBLAS thread count it was started with (OPENBLAS_NUM_THREADS), after one warm-up.
            """
    )

    @Option(name: .long, parsing: .upToNextOption, help: "Matrix sizes n (comma or space separated).")
    var sizes: [String] = ["256", "512", "1024", "2048"]

    @Option(name: .long, help: "Timed repeats per size; the median is reported.")
    var repeats: Int = 5

    @Option(name: .long, help: "Output format: text or json.")
    var format: BenchFormat = .text

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        _ = try parsedSizes()
    }

    func parsedSizes() throws -> [Int] {
        try BenchList.integers(sizes, flag: "--sizes", minimum: 1)
    }

    func run() throws {
        var rows: [(n: Int, seconds: Double, gflops: Double)] = []
        for n in try parsedSizes() {
            let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
            let b = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
            let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
            defer { a.deallocate(); b.deallocate(); c.deallocate() }
            a.initialize(repeating: 0.5, count: n * n)
            b.initialize(repeating: 0.25, count: n * n)
            c.initialize(repeating: 0, count: n * n)
            func product() {
                BLAS.sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: c, ldc: n)
            }
            product()
            var times: [Double] = []
            for _ in 0..<repeats {
                let start = Clock.now()
                product()
                times.append(Clock.now() - start)
            }
            let seconds = Clock.median(times)
            rows.append((n, seconds, 2 * Double(n) * Double(n) * Double(n) / seconds / 1e9))
        }
        switch format {
        case .text:
            print("n\tseconds\tGFLOP/s")
            for row in rows { print("\(row.n)\t\(row.seconds)\t\(String(format2: row.gflops))") }
        case .json:
            print(JSONText.array(rows.map {
                JSONText.object([("n", JSONText.number($0.n)), ("seconds", JSONText.number($0.seconds)),
                                 ("gflops", JSONText.number($0.gflops))])
            }))
        }
    }
}
