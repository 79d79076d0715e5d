import Foundation
import PerformerModel
#if PROTEIN_PERFORMER_MPI
import PerformerDistributed
#endif

/// The ranks of an `mpirun` job, when this build has MPI (`PROTEIN_PERFORMER_MPI=1`, see
/// docs/distributed.md); the only file of the tool that knows whether it does.
protocol ProcessGroup: GradientReducer {
    /// Ends MPI on this rank (after its last collective operation).
    func finish()
    /// Ends every rank of the job with `code`.
    func abort(code: Int32) -> Never
}

#if PROTEIN_PERFORMER_MPI
extension MPIReducer: ProcessGroup {}
#endif

enum DistributedRuntime {
    #if PROTEIN_PERFORMER_MPI
    static let isAvailable = true
    #else
    static let isAvailable = false
    #endif

    /// Why `--distributed` cannot work in this build, for the error message.
    static let unavailableMessage = """
        --distributed needs a protein-tool built with MPI: install Open MPI (scripts/install-deps.sh --mpi) \
        and build with PROTEIN_PERFORMER_MPI=1 swift build -c release (docs/distributed.md)
        """

    /// The number of processes of the `mpirun` / `mpiexec` job this process was started by, read
    /// from the launcher's environment (Open MPI's OMPI_COMM_WORLD_SIZE, MPICH/PMI's PMI_SIZE);
    /// nil when not started by a launcher.
    static var launcherSize: Int? {
        let environment = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
            if let value = environment[key], let size = Int(value) { return size }
        }
        return nil
    }

    /// Starts MPI and returns this process's rank.
    static func start() throws -> any ProcessGroup {
        #if PROTEIN_PERFORMER_MPI
        return try MPIReducer.start()
        #else
        throw DistributedUnavailable()
        #endif
    }

    /// Seconds of `repeats` all-reduces of `count` floats (each after a barrier), on this rank.
    static func timeAllReduce(_ group: any ProcessGroup, count: Int, repeats: Int, bucket: Int?) -> [Double] {
        #if PROTEIN_PERFORMER_MPI
        if let mpi = group as? MPIReducer { return mpi.timeAllReduce(count: count, repeats: repeats, bucket: bucket) }
        #endif
        return []
    }
}

struct DistributedUnavailable: Error, CustomStringConvertible {
    var description: String { DistributedRuntime.unavailableMessage }
}
