import ArgumentParser
import PerformerModel

/// `protein-tool bench …`: throughput and memory benchmarks. Results go to BENCHMARKS.md with the
/// command, the machine and the date; they are never asserted in unit tests.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: I/O throughput, sgemm rate, attention kernels, training, generation, MPI all-reduce.",
        subcommands: [BenchIO.self, BenchSgemm.self, BenchAttention.self, BenchApprox.self, BenchTrain.self, BenchGenerate.self, BenchAllReduce.self]
    )
}

enum BenchFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Parsing of list-valued benchmark flags (`--lengths 512,1024 2048`).
enum BenchList {
    static func items(_ raw: [String]) -> [String] {
        raw.flatMap { $0.split(separator: ",").map { String($0).trimmingWhitespace() } }.filter { !$0.isEmpty }
    }

    /// The model kernels of a `--kernels` list (favor-relu, favor-softmax, exact; `identity` has
    /// no model). An empty list or another name is a usage error.
    static func modelKernels(_ raw: [String]) throws -> [AttentionKind] {
        let names = items(raw)
        guard !names.isEmpty else { throw ValidationError("--kernels needs at least one value") }
        return try names.map {
            guard let kind = AttentionKind(rawValue: $0), kind != .identity else {
                throw ValidationError("--kernels: unknown kernel '\($0)' (favor-relu, favor-softmax, exact)")
            }
            return kind
        }
    }

    static func integers(_ raw: [String], flag: String, minimum: Int) throws -> [Int] {
        let values = try items(raw).map { item -> Int in
            guard let value = Int(item), value >= minimum else {
                throw ValidationError("\(flag): '\(item)' is not an integer ≥ \(minimum)")
            }
            return value
        }
        guard !values.isEmpty else { throw ValidationError("\(flag) needs at least one value") }
        return values
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    /// `x` with two decimals, without Foundation.
    init(format2 x: Double) {
        guard x.isFinite else { self = "\(x)"; return }
        let scaled = (x * 100).rounded()
        let whole = Int(scaled / 100)
        let frac = Int(abs(scaled).truncatingRemainder(dividingBy: 100))
        self = (x < 0 && whole == 0 ? "-" : "") + "\(whole)." + (frac < 10 ? "0" : "") + "\(frac)"
    }
}
