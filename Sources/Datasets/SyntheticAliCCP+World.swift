import RecHubRandom
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension SyntheticAliCCP {
    /// The planted truth over a population: calibrated effects, latent weights, dense coefficients
    /// and intercepts, folded into per-user, per-item and per-id tables. Immutable once built.
    final class World: Sendable {
        typealias P = Population
        /// Number of dense basis functions φ_j.
        static let basisCount = 10
        /// Calibration sample size: the intercepts match the target rates on these rows exactly;
        /// over a million fresh rows the expected rates then stay within 0.5 % (CTR) and 1 %
        /// (P(purchase | click)) of the targets (measured over five seeds at scale 0.2).
        static let calibrationRows = 200_000
        /// Impression frequency at which an id keeps half its effect variance (damping).
        static let learnableFrequency = 1e-3
        /// The same for the appeal of `selectionBias`: learnable from impressions, sparse in clicks.
        static let appealFrequency = 2e-5
        /// Latent factor width; CTR uses dimensions 0..<4, the CVR-specific part 2..<6.
        static let latentWidth = 6

        /// Per-component share of the CTR signal variance: 23 fields (header order), latent, dense.
        /// Most of it sits where a model sees enough rows: small profile fields, the scenario,
        /// category and node, dense features; high-cardinality fields (user, item, shop, crosses)
        /// carry a little each. Tuned with an embedding + MLP proxy (see the package guide).
        static let clickShares: [Double] = [
            0.005, 0.08, 0.05, 0.02, 0.04, 0.03, 0.01, 0.01, 0.01,  // 101, 121…129
            0.005, 0.08, 0.005, 0.06, 0.02,  // 205, 206, 207, 210, 216
            0.01, 0.005, 0.005, 0.01,  // 508, 509, 702, 853
            0.07,  // 301
            0.02, 0.005, 0.005, 0.02,  // 109_14, 110_14, 127_14, 150_14
            0.10, 0.325,  // latent, dense
        ]
        /// Per-component share of the CVR-specific signal variance (same order): consumption level,
        /// age, brand and other dense functions matter more for purchases than for clicks.
        static let purchaseShares: [Double] = [
            0.005, 0.03, 0.03, 0.02, 0.05, 0.08, 0.01, 0.03, 0.01,
            0.005, 0.07, 0.01, 0.03, 0.05,
            0.01, 0.01, 0.01, 0.005,
            0.02,
            0.01, 0.005, 0.01, 0.01,
            0.10, 0.38,
        ]
        /// Dense basis coefficients before normalisation (see `basis`).
        static let clickBasis: [Double] = [1.0, 0.8, -0.6, 0.3, 1.2, 0.5, 0.7, 0.4, 0.6, 0.0]
        static let purchaseBasis: [Double] = [0.3, 0.0, 0.5, 0.8, 0.4, 0.8, 1.0, 0.3, 0.0, 0.9]

        let population: Population
        /// Latent factors, (U, 6) from the user's group (field 122), (I, 6) from the item's
        /// category and intention node: the user × item interaction.
        let userFactor: [Float], itemFactor: [Float]
        /// Per user and per item, the sum of their fields' effects, (U, 2) and (I, 2) as (CTR, CVR).
        let userEffect: [Double], itemEffect: [Double]
        /// Per cross field (4) and for the scenario field, effects (V, 2) as (CTR, CVR).
        let crossEffect: [[Double]], scenarioEffect: [Double]
        /// Latent weights (6) and dense basis coefficients (10) per task.
        let clickLatent: [Double], purchaseLatent: [Double]
        let clickDense: [Double], purchaseDense: [Double]
        let clickIntercept: Double, purchaseIntercept: Double
        /// Appeal (selection bias) per user (U) and per item (I), and its weight in each logit.
        let userAppeal: [Double], itemAppeal: [Double]
        let clickAppeal: Double, purchaseAppeal: Double

        /// Builds the population, draws the effects, calibrates and folds the tables.
        init(_ c: Configuration) {
            var rng = SeededRandom.derived(seed: c.seed, stream: 0)
            let population = Population(c, rng: &rng)
            self.population = population
            let vocabulary = population.vocabulary
            let nF = P.fieldCount, k = World.latentWidth
            let sample = Sample(population, seed: c.seed)

            // Damping: an id seen c times in the sample keeps √(c / (c + κ)) of its effect, so the
            // signal sits where a model sees enough rows to learn it.
            let kappa = World.learnableFrequency * Double(World.calibrationRows)
            var damping = vocabulary.map { [Double](repeating: 0, count: $0) }
            for r in 0..<World.calibrationRows {
                for f in 0..<nF { damping[f][Int(sample.ids[r * nF + f])] += 1 }
            }
            for f in 0..<nF { damping[f] = damping[f].map { ($0 / ($0 + kappa)).squareRoot() } }

            // Raw effects N(0, 1) · damping per field and id: the CTR table, the CVR-specific table.
            var rawClick: [[Double]] = [], rawPurchase: [[Double]] = []
            for f in 0..<nF {
                rawClick.append((0..<vocabulary[f]).map { rng.nextGaussian() * damping[f][$0] })
                rawPurchase.append((0..<vocabulary[f]).map { rng.nextGaussian() * damping[f][$0] })
            }

            // Latent factors: damped unit-Gaussian embeddings of the attribute ids.
            func embeddings(_ f: Int) -> [Double] {
                (0..<vocabulary[f] * k).map { rng.nextGaussian() * damping[f][$0 / k] }
            }
            let groupEmbedding = embeddings(P.fGroup)
            let categoryEmbedding = embeddings(P.fCategory), nodeEmbedding = embeddings(P.fNode)
            let (nU, nI) = (vocabulary[P.fUser], vocabulary[P.fItem])
            var p = [Float](repeating: 0, count: nU * k)
            for u in 0..<nU {
                for d in 0..<k {
                    p[u * k + d] = Float(groupEmbedding[Int(population.userProfile[u * 8 + P.fGroup - 1]) * k + d])
                }
            }
            var q = [Float](repeating: 0, count: nI * k)
            for i in 0..<nI {
                let cat = Int(population.itemCategory[i])
                let node = Int(population.categoryNode[cat])
                for d in 0..<k {
                    let s = categoryEmbedding[cat * k + d] + nodeEmbedding[node * k + d]
                    q[i * k + d] = Float(s / 2.0.squareRoot())  // two terms of variance at most 1
                }
            }
            userFactor = p
            itemFactor = q

            // Appeal (selection bias): its own stream, so that the rest of the world does not move.
            var appealRNG = SeededRandom.derived(seed: c.seed, stream: 5000)
            let appealKappa = World.appealFrequency * Double(World.calibrationRows)
            var seen = (user: [Double](repeating: 0, count: nU), item: [Double](repeating: 0, count: nI))
            for r in 0..<World.calibrationRows {
                seen.user[sample.users[r]] += 1
                seen.item[sample.items[r]] += 1
            }
            let uAppeal = seen.user.map { appealRNG.nextGaussian() * ($0 / ($0 + appealKappa)).squareRoot() }
            let iAppeal = seen.item.map { appealRNG.nextGaussian() * ($0 / ($0 + appealKappa)).squareRoot() }
            userAppeal = uAppeal
            itemAppeal = iAppeal
            let cal = Calibration(sample, c, rawClick: rawClick, rawPurchase: rawPurchase,
                                  userFactor: p, itemFactor: q, userAppeal: uAppeal, itemAppeal: iAppeal)
            clickAppeal = cal.clickAppeal
            purchaseAppeal = cal.purchaseAppeal

            // Fold every scale into effective tables, then sum them per user and per item.
            let click = (0..<nF).map { f in rawClick[f].map { $0 * cal.clickScale[f] } }
            var purchase: [[Double]] = []
            for f in 0..<nF {
                let (shared, specific) = (cal.sharedScale[f], cal.purchaseScale[f])
                purchase.append(zip(rawClick[f], rawPurchase[f]).map { (a: Double, b: Double) -> Double in a * shared + b * specific })
            }
            var uEffect = [Double](repeating: 0, count: nU * 2)
            for u in 0..<nU {
                var fields = [(P.fUser, u)]
                for j in 0..<8 { fields.append((1 + j, Int(population.userProfile[u * 8 + j]))) }
                for j in 0..<4 { fields.append((P.fFavourite + j, Int(population.userFavourite[u * 4 + j]))) }
                for (f, id) in fields {
                    uEffect[2 * u] += click[f][id]
                    uEffect[2 * u + 1] += purchase[f][id]
                }
            }
            var iEffect = [Double](repeating: 0, count: nI * 2)
            for i in 0..<nI {
                let cat = Int(population.itemCategory[i])
                let fields = [(P.fItem, i), (P.fCategory, cat), (P.fShop, Int(population.itemShop[i])),
                              (P.fNode, Int(population.categoryNode[cat])), (P.fBrand, Int(population.itemBrand[i]))]
                for (f, id) in fields {
                    iEffect[2 * i] += click[f][id]
                    iEffect[2 * i + 1] += purchase[f][id]
                }
            }
            func interleaved(_ f: Int) -> [Double] { (0..<vocabulary[f]).flatMap { [click[f][$0], purchase[f][$0]] } }
            userEffect = uEffect
            itemEffect = iEffect
            crossEffect = (P.fCross508...P.fCross853).map(interleaved)
            scenarioEffect = interleaved(P.fScenario)
            clickLatent = cal.clickLatent
            purchaseLatent = cal.purchaseLatent
            clickDense = cal.clickDense
            purchaseDense = cal.purchaseDense
            clickIntercept = cal.clickIntercept
            purchaseIntercept = cal.purchaseIntercept
        }

        /// The dense basis φ (10 values) of one row's dense columns (8 values in [0, 1]).
        ///
        /// ```
        /// φ0 = √x0   φ1 = 4 x1 (1 - x1)   φ2 = x2²   φ3 = 4 (x3 - ½)²   φ4 = log10(1 + 9 x4)
        /// φ5 = tanh(6 (x5 - ¼))   φ6 = √x6   φ7 = x7   φ8 = x0 x4   φ9 = x2
        /// ```
        @inline(__always)
        static func basis(_ x: UnsafePointer<Double>, into phi: UnsafeMutablePointer<Double>) {
            phi[0] = x[0].squareRoot()
            phi[1] = 4 * x[1] * (1 - x[1])
            phi[2] = x[2] * x[2]
            phi[3] = 4 * (x[3] - 0.5) * (x[3] - 0.5)
            phi[4] = log10(1 + 9 * x[4])
            phi[5] = tanh(6 * (x[5] - 0.25))
            phi[6] = x[6].squareRoot()
            phi[7] = x[7]
            phi[8] = x[0] * x[4]
            phi[9] = x[2]
        }

        /// Draws one impression (see `Population.drawColumns`) and returns its true (pCTR, pCVR).
        @inline(__always)
        func drawRow(_ rng: inout SeededRandom, ids: UnsafeMutablePointer<Int32>,
                     dense: UnsafeMutablePointer<Int32>) -> (Double, Double) {
            let (u, i) = population.drawColumns(&rng, ids: ids, dense: dense)
            var zc = clickIntercept + userEffect[2 * u] + itemEffect[2 * i]
            var zv = purchaseIntercept + userEffect[2 * u + 1] + itemEffect[2 * i + 1]
            for x in 0..<4 {
                let id = Int(ids[P.fCross508 + x])
                zc += crossEffect[x][2 * id]
                zv += crossEffect[x][2 * id + 1]
            }
            let s = Int(ids[P.fScenario])
            zc += scenarioEffect[2 * s]
            zv += scenarioEffect[2 * s + 1]
            let appeal = userAppeal[u] + itemAppeal[i]
            zc += clickAppeal * appeal
            zv += purchaseAppeal * appeal
            let k = World.latentWidth
            let (pu, qi) = (userFactor, itemFactor)
            for d in 0..<k {
                let pq = Double(pu[u * k + d]) * Double(qi[i * k + d])
                zc += clickLatent[d] * pq
                zv += purchaseLatent[d] * pq
            }
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 8 + World.basisCount) { buffer in
                let x = buffer.baseAddress!, phi = x + 8
                for j in 0..<8 { x[j] = Double(dense[j]) / 100_000 }
                World.basis(x, into: phi)
                for j in 0..<World.basisCount {
                    zc += clickDense[j] * phi[j]
                    zv += purchaseDense[j] * phi[j]
                }
            }
            return (World.sigmoid(zc), World.sigmoid(zv))
        }

        @inline(__always) static func sigmoid(_ z: Double) -> Double { 1 / (1 + exp(-z)) }
    }

    /// A sample of impressions (columns only) drawn on the calibration stream.
    struct Sample {
        /// Sparse ids (R, 23), dense values in 1e-5 units (R, 8), user and item of each row (R).
        var ids: [Int32], dense: [Int32], users: [Int], items: [Int]

        init(_ population: Population, seed: UInt64) {
            let rows = World.calibrationRows, nF = Population.fieldCount, nD = Population.denseCount
            var rng = SeededRandom.derived(seed: seed, stream: 1000)
            var ids = [Int32](repeating: 0, count: rows * nF), dense = [Int32](repeating: 0, count: rows * nD)
            var users = [Int](repeating: 0, count: rows), items = [Int](repeating: 0, count: rows)
            ids.withUnsafeMutableBufferPointer { idp in
                dense.withUnsafeMutableBufferPointer { dp in
                    for r in 0..<rows {
                        (users[r], items[r]) = population.drawColumns(&rng, ids: idp.baseAddress! + r * nF,
                                                                      dense: dp.baseAddress! + r * nD)
                    }
                }
            }
            (self.ids, self.dense, self.users, self.items) = (ids, dense, users, items)
        }
    }

    /// Scales and intercepts measured on a calibration sample of impressions.
    ///
    /// ```
    /// component m of a row: raw value r_m (field effect, latent product, dense sum)
    /// a_m = √(share_m / Var r_m)              per task (CTR shares, CVR-specific shares)
    /// S_c = g_c Σ a_m r_m,  S'_v = g_v Σ a'_m r'_m     (g: unit variance)
    /// S_v = h (ρ S_c + √(1 - ρ²) S'_v)                  (h: unit variance)
    /// z_c = b_c + σ_c S_c,  z_v = b_v + σ_v S_v                   (selection bias s = 0)
    /// z = b + √(1 - s²) σ S + s σ g_A A,  A = appeal(user) + appeal(item)  (g_A: unit variance)
    /// b_c: mean σ(z_c) = clickRate;  b_v: Σ σ(z_c) σ(z_v) / Σ σ(z_c) = purchaseRateGivenClick
    /// ```
    struct Calibration {
        typealias P = Population
        /// Per field (23): CTR scale of the CTR table; CVR scales of the CTR and CVR-specific tables.
        var clickScale: [Double], sharedScale: [Double], purchaseScale: [Double]
        var clickLatent: [Double], purchaseLatent: [Double]
        var clickDense: [Double], purchaseDense: [Double]
        var clickIntercept: Double, purchaseIntercept: Double
        /// Weight of the appeal A = appeal(user) + appeal(item) in each logit.
        var clickAppeal: Double, purchaseAppeal: Double

        init(_ sample: Sample, _ c: Configuration, rawClick: [[Double]], rawPurchase: [[Double]],
             userFactor: [Float], itemFactor: [Float], userAppeal: [Double], itemAppeal: [Double]) {
            let nF = P.fieldCount, nM = P.fieldCount + 2, k = World.latentWidth, nB = World.basisCount
            let rows = World.calibrationRows
            var rc = [Double](repeating: 0, count: rows * nM)  // raw CTR components (R, 25)
            var rv = [Double](repeating: 0, count: rows * nM)  // raw CVR-specific components (R, 25)
            var x = [Double](repeating: 0, count: 8), phi = [Double](repeating: 0, count: nB)
            for r in 0..<rows {
                let (u, i) = (sample.users[r], sample.items[r])
                for f in 0..<nF {
                    let id = Int(sample.ids[r * nF + f])
                    rc[r * nM + f] = rawClick[f][id]
                    rv[r * nM + f] = rawPurchase[f][id]
                }
                var (lc, lv) = (0.0, 0.0)
                for d in 0..<k {
                    let pq = Double(userFactor[u * k + d]) * Double(itemFactor[i * k + d])
                    if d < 4 { lc += pq }
                    if d >= 2 { lv += pq }
                }
                rc[r * nM + nF] = lc
                rv[r * nM + nF] = lv
                for j in 0..<8 { x[j] = Double(sample.dense[r * P.denseCount + j]) / 100_000 }
                x.withUnsafeBufferPointer { xp in
                    phi.withUnsafeMutableBufferPointer { World.basis(xp.baseAddress!, into: $0.baseAddress!) }
                }
                var (dc, dv) = (0.0, 0.0)
                for j in 0..<nB {
                    dc += World.clickBasis[j] * phi[j]
                    dv += World.purchaseBasis[j] * phi[j]
                }
                rc[r * nM + nF + 1] = dc
                rv[r * nM + nF + 1] = dv
            }

            func variance(_ values: [Double], column m: Int, stride: Int) -> Double {
                var (sum, sumSquares) = (0.0, 0.0)
                for r in 0..<rows {
                    let v = values[r * stride + m]
                    sum += v
                    sumSquares += v * v
                }
                let mean = sum / Double(rows)
                return max(sumSquares / Double(rows) - mean * mean, 0)
            }
            func scale(_ share: Double, _ variance: Double) -> Double { variance > 1e-12 ? (share / variance).squareRoot() : 0 }
            let a = (0..<nM).map { scale(World.clickShares[$0], variance(rc, column: $0, stride: nM)) }
            let b = (0..<nM).map { scale(World.purchaseShares[$0], variance(rv, column: $0, stride: nM)) }
            var sc = [Double](repeating: 0, count: rows), sv = [Double](repeating: 0, count: rows)
            for r in 0..<rows {
                for m in 0..<nM {
                    sc[r] += a[m] * rc[r * nM + m]
                    sv[r] += b[m] * rv[r * nM + m]
                }
            }
            func unit(_ values: [Double]) -> Double {
                let v = variance(values, column: 0, stride: 1)
                return v > 1e-12 ? 1 / v.squareRoot() : 0
            }
            let gc = unit(sc), gv = unit(sv)
            let rho = c.taskCorrelation, rhoBar = (1 - rho * rho).squareRoot()
            let mixed = (0..<rows).map { rho * gc * sc[$0] + rhoBar * gv * sv[$0] }
            let h = unit(mixed)
            // With selection bias s the signal above keeps √(1 - s²) of each logit's variance (an
            // exact no-op at s = 0: the factor is 1.0 and the appeal weights are 0.0).
            let keep = (1 - c.selectionBias * c.selectionBias).squareRoot()
            let (sigmaC, sigmaV) = (keep * c.clickSignal, keep * c.purchaseSignal)
            let appeal = (0..<rows).map { userAppeal[sample.users[$0]] + itemAppeal[sample.items[$0]] }
            let gA = unit(appeal)
            clickAppeal = c.selectionBias * c.clickSignal * gA
            purchaseAppeal = c.selectionBias * c.purchaseSignal * gA
            let shared = sigmaV * h * rho * gc, specific = sigmaV * h * rhoBar * gv

            clickScale = (0..<nF).map { sigmaC * gc * a[$0] }
            sharedScale = (0..<nF).map { shared * a[$0] }
            purchaseScale = (0..<nF).map { specific * b[$0] }
            clickLatent = (0..<k).map { $0 < 4 ? sigmaC * gc * a[nF] : 0 }
            purchaseLatent = (0..<k).map { ($0 < 4 ? shared * a[nF] : 0) + ($0 >= 2 ? specific * b[nF] : 0) }
            clickDense = World.clickBasis.map { sigmaC * gc * a[nF + 1] * $0 }
            purchaseDense = (0..<nB).map { shared * a[nF + 1] * World.clickBasis[$0] + specific * b[nF + 1] * World.purchaseBasis[$0] }

            // Intercepts by bisection on the calibration rows (monotone in the intercept).
            var zc = sc.map { sigmaC * gc * $0 }
            var zv = mixed.map { sigmaV * h * $0 }
            for r in 0..<rows {
                zc[r] += clickAppeal * appeal[r]
                zv[r] += purchaseAppeal * appeal[r]
            }
            func solve(_ target: Double, _ rate: (Double) -> Double) -> Double {
                var (lo, hi) = (-30.0, 30.0)
                for _ in 0..<100 {
                    let mid = (lo + hi) / 2
                    if rate(mid) < target { lo = mid } else { hi = mid }
                }
                return (lo + hi) / 2
            }
            let bc = solve(c.clickRate) { b in zc.reduce(0) { $0 + World.sigmoid(b + $1) } / Double(rows) }
            let pClick = zc.map { World.sigmoid(bc + $0) }
            let clicks = pClick.reduce(0, +)
            let bv = solve(c.purchaseRateGivenClick) { b in
                var s = 0.0
                for r in 0..<rows { s += pClick[r] * World.sigmoid(b + zv[r]) }
                return s / clicks
            }
            clickIntercept = bc
            purchaseIntercept = bv
        }
    }
}
