import Kernels
import Layers
import Testing

/// Layout ordering: shared first, then each task's tensors contiguous.
struct ParameterLayoutTests {
    @Test func sharedFirstThenTasksInOrder() {
        let layout = ParameterLayout(numTasks: 2)
        let a = layout.declare("t1.w", shape: [2, 3], role: .task(1), initializer: .zeros)
        let b = layout.declare("s.w", shape: [4], role: .shared, initializer: .ones)
        let c = layout.declare("t0.w", shape: [5], role: .task(0), initializer: .zeros)
        let d = layout.declare("s.b", shape: [1], role: .shared, initializer: .zeros)
        layout.finalize()
        #expect(layout[b].offset == 0 && layout[d].offset == 4)
        #expect(layout.sharedCount == 5)
        #expect(layout[c].offset == 5 && layout.taskRanges[0] == 5..<10)
        #expect(layout[a].offset == 10 && layout.taskRanges[1] == 10..<16)
        #expect(layout.count == 16)
        let params = FloatBuffer(count: layout.count)
        var rng = SeededRandom(seed: 1)
        layout.initialize(params, rng: &rng)
        #expect(params.toArray()[0..<4].allSatisfy { $0 == 1 })
        let view = layout.view(params)
        #expect(view[a] == params.base + 10)
    }

    @Test func perTaskSharedGradientView() {
        let layout = ParameterLayout(numTasks: 1)
        let s = layout.declare("s", shape: [3], role: .shared, initializer: .zeros)
        let t = layout.declare("t", shape: [2], role: .task(0), initializer: .zeros)
        layout.finalize()
        let full = FloatBuffer(count: layout.count)
        let perTask = FloatBuffer(count: 3)
        let view = layout.view(shared: perTask.base, full: full)
        #expect(view[s] == perTask.base)
        #expect(view[t] == full.base + 3)
    }
}
