import ArgumentParser
import Foundation
import PerformerModel

/// `mpirun -np N protein-tool bench allreduce`: the time of the gradient all-reduce alone, for
/// the cost model in docs/distributed.md (MPI builds only).
struct BenchAllReduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Time MPI_Allreduce (sum) of gradient-sized Float buffers across the ranks of an mpirun job.",
        discussion: """
            Run under mpirun (MPI builds only: PROTEIN_PERFORMER_MPI=1). For each count (default: the parameter
            counts of the tiny, small and base presets) every rank sums a buffer of that many floats in place
            --repeats times, each call started right after an MPI_Barrier so it times communication, not waiting
            for a slower rank; rank 0 prints the median seconds, the algorithm bandwidth (bytes / time) and the
            bus bandwidth (2·(N−1)/N · bytes / time, what each rank sends in a ring all-reduce).
            """
    )

    @Option(name: .long, parsing: .upToNextOption, help: "Float counts (comma or space separated); default: tiny, small, base parameter counts.")
    var counts: [String] = []

    @Option(name: .long, help: "Timed all-reduces per count (after one warm-up); the median is reported.")
    var repeats: Int = 20

    @Option(name: .long, help: "Elements per MPI_Allreduce call (default: the trainer's, 2^26).")
    var bucket: Int?

    @Option(name: .long, help: "Output format: text or json.")
    var format: BenchFormat = .text

    func validate() throws {
        if !DistributedRuntime.isAvailable { throw ValidationError(DistributedRuntime.unavailableMessage) }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        if let bucket, bucket < 1 { throw ValidationError("--bucket must be positive") }
        _ = try parsedCounts()
    }

    func parsedCounts() throws -> [Int] {
        if counts.isEmpty { return PerformerConfiguration.Preset.allCases.map { PerformerConfiguration.preset($0).parameterCount } }
        return try BenchList.integers(counts, flag: "--counts", minimum: 1)
    }

    func run() throws {
        let group = try DistributedRuntime.start()
        defer { group.finish() }
        var rows: [(count: Int, seconds: Double)] = []
        for count in try parsedCounts() {
            _ = DistributedRuntime.timeAllReduce(group, count: count, repeats: 1, bucket: bucket)
            let times = DistributedRuntime.timeAllReduce(group, count: count, repeats: repeats, bucket: bucket)
            rows.append((count, Clock.median(times)))
        }
        guard group.rank == 0 else { return }
        let n = Double(group.size)
        func bandwidths(_ row: (count: Int, seconds: Double)) -> (algorithm: Double, bus: Double) {
            let bytes = Double(row.count) * 4
            return (bytes / row.seconds / 1e9, 2 * (n - 1) / n * bytes / row.seconds / 1e9)
        }
        switch format {
        case .text:
            print("ranks\tfloats\tMB\tseconds\talg GB/s\tbus GB/s")
            for row in rows {
                let b = bandwidths(row)
                print("\(group.size)\t\(row.count)\t\(String(format: "%.2f", Double(row.count) * 4 / 1e6))\t"
                      + "\(String(format: "%.6f", row.seconds))\t\(String(format: "%.2f", b.algorithm))\t\(String(format: "%.2f", b.bus))")
            }
        case .json:
            let objects = rows.map { row -> String in
                let b = bandwidths(row)
                return "{\"ranks\":\(group.size),\"floats\":\(row.count),\"seconds\":\(row.seconds),"
                    + "\"algorithm_gb_per_s\":\(b.algorithm),\"bus_gb_per_s\":\(b.bus)}"
            }
            print("[" + objects.joined(separator: ",") + "]")
        }
    }
}
