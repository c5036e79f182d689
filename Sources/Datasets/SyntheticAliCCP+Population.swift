import RecHubRandom
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension SyntheticAliCCP {
    /// Vocabulary sizes at scale 1, per sparse field in header order.
    static let baseVocabulary: [Int] = [
        100_000, 98, 14, 3, 8, 4, 4, 3, 5,  // 101 user, 121…129 profile
        500_000, 1_000, 5_000, 300, 3_000,  // 205 item, 206 category, 207 shop, 210 node, 216 brand
        10_000, 20_000, 20_000, 3_000,  // 508, 509, 702, 853 crosses
        3,  // 301 scenario
        1_000, 5_000, 3_000, 300,  // favourites: same id spaces as 206, 207, 216, 210
    ]

    /// Who sees what: users, items, their fixed attributes, and how an
    /// impression's columns are drawn. Immutable once built.
    final class Population: Sendable {
        /// Sparse fields F and dense columns D of the layout.
        static let fieldCount = 23
        static let denseCount = 8
        /// Sparse field positions (header order after the labels).
        static let fUser = 0, fItem = 9, fCategory = 10, fShop = 11, fNode = 12, fBrand = 13
        static let fCross508 = 14, fCross509 = 15, fCross702 = 16, fCross853 = 17, fScenario = 18
        /// 19…22: favourite category, shop, brand, node.
        static let fFavourite = 19
        /// 121…129.
        static let profileFields = 1...8
        /// 122, the user group: user side of the latent interaction and of the cross ids.
        static let fGroup = 2

        /// Vocabulary size per sparse field (F).
        let vocabulary: [Int]
        let personalization: Double
        let users: AliasTable, items: AliasTable, scenarios: AliasTable
        /// Items grouped by category (`categoryItems`), one popularity segment per category.
        let itemsByCategory: AliasTable
        let categoryItems: [Int32], categoryStart: [Int], categoryCount: [Int]
        /// Per user: profile ids (U, 8), favourites (U, 4), activity levels in 1e-5 units (U, 4).
        let userProfile: [Int32], userFavourite: [Int32], userActivity: [Int32]
        /// Per item: category, shop, brand (I); per category: intention node (C).
        let itemCategory: [Int32], itemShop: [Int32], itemBrand: [Int32], categoryNode: [Int32]

        /// Vocabulary sizes at `scale`: every base size above 4 becomes `max(4, round(V · scale))`;
        /// the favourites share the id spaces of category, shop, brand and node.
        static func vocabulary(scale: Double) -> [Int] {
            func scaled(_ v: Int) -> Int { v <= 4 ? v : max(4, Int((Double(v) * scale).rounded())) }
            let own = SyntheticAliCCP.baseVocabulary.map(scaled)
            let favouriteOf = [fCategory, fShop, fBrand, fNode]
            return (0..<fieldCount).map { $0 >= fFavourite ? own[favouriteOf[$0 - fFavourite]] : own[$0] }
        }

        /// Builds the population from `rng` (the world stream).
        init(_ c: Configuration, rng: inout SeededRandom) {
            let vocabulary = Population.vocabulary(scale: c.scale)
            self.vocabulary = vocabulary
            personalization = c.personalization
            let (nU, nI) = (vocabulary[Population.fUser], vocabulary[Population.fItem])
            let (nC, nS, nB, nN) = (vocabulary[Population.fCategory], vocabulary[Population.fShop],
                                    vocabulary[Population.fBrand], vocabulary[Population.fNode])

            // Popularity: Zipf–Mandelbrot over shuffled ids, so that an id does not reveal its rank.
            var userWeights = AliasTable.zipfWeights(count: nU, exponent: c.zipfExponent, offset: 50)
            rng.shuffle(&userWeights)
            users = AliasTable(weights: userWeights)
            var itemWeights = AliasTable.zipfWeights(count: nI, exponent: c.zipfExponent, offset: 50)
            rng.shuffle(&itemWeights)
            items = AliasTable(weights: itemWeights)
            scenarios = AliasTable(weights: [0.6, 0.3, 0.1])

            // Item attributes: skewed, independent of item popularity; a category's node is fixed.
            let categoryDraw = AliasTable(weights: AliasTable.zipfWeights(count: nC, exponent: 1.0, offset: 2))
            let shopDraw = AliasTable(weights: AliasTable.zipfWeights(count: nS, exponent: 1.0, offset: 5))
            let brandDraw = AliasTable(weights: AliasTable.zipfWeights(count: nB, exponent: 1.0, offset: 5))
            var category = [Int32](repeating: 0, count: nI)
            var shop = [Int32](repeating: 0, count: nI)
            var brand = [Int32](repeating: 0, count: nI)
            for i in 0..<nI {
                category[i] = Int32(categoryDraw.sample(&rng))
                shop[i] = Int32(shopDraw.sample(&rng))
                brand[i] = Int32(brandDraw.sample(&rng))
            }
            let node = (0..<nC).map { _ in Int32(rng.nextInt(below: nN)) }
            itemCategory = category
            itemShop = shop
            itemBrand = brand
            categoryNode = node

            // Items grouped by category (counting sort), each group sampled by item popularity.
            var count = [Int](repeating: 0, count: nC)
            for k in category { count[Int(k)] += 1 }
            var start = [Int](repeating: 0, count: nC)
            for k in 1..<nC { start[k] = start[k - 1] + count[k - 1] }
            var fill = start
            var grouped = [Int32](repeating: 0, count: nI)
            for i in 0..<nI {
                let k = Int(category[i])
                grouped[fill[k]] = Int32(i)
                fill[k] += 1
            }
            categoryItems = grouped
            categoryStart = start
            categoryCount = count
            itemsByCategory = AliasTable(weights: grouped.map { itemWeights[Int($0)] }, segmentStarts: start)

            // Users: skewed small categorical profile; favourites from one favourite item (so they
            // follow item popularity and the favourite category is never empty); activity levels
            // 1 - exp(-L), L log-normal, in (0, 1) like the real D109_14…D150_14.
            let profileDraws = Population.profileFields.map {
                AliasTable(weights: AliasTable.zipfWeights(count: vocabulary[$0], exponent: 1.0, offset: 1))
            }
            let activityMean: [Double] = [-0.7, -1.0, -1.2, -0.9]
            var profile = [Int32](repeating: 0, count: nU * 8)
            var favourite = [Int32](repeating: 0, count: nU * 4)
            var activity = [Int32](repeating: 0, count: nU * 4)
            for u in 0..<nU {
                for k in 0..<8 { profile[u * 8 + k] = Int32(profileDraws[k].sample(&rng)) }
                let j = items.sample(&rng)
                let cat = Int(category[j])
                favourite[u * 4] = Int32(cat)
                favourite[u * 4 + 1] = shop[j]
                favourite[u * 4 + 2] = brand[j]
                favourite[u * 4 + 3] = node[cat]
                for k in 0..<4 {
                    let level = exp(activityMean[k] + 0.8 * rng.nextGaussian())
                    activity[u * 4 + k] = Int32(((1 - exp(-level)) * 100_000).rounded())
                }
            }
            userProfile = profile
            userFavourite = favourite
            userActivity = activity
        }

        /// A deterministic cross id of a user group and an item attribute, in `0..<size`.
        @inline(__always)
        static func cross(_ group: Int32, _ attribute: Int32, salt: UInt64, size: Int) -> Int32 {
            var z = (UInt64(UInt32(bitPattern: group)) << 32 | UInt64(UInt32(bitPattern: attribute))) ^ (salt << 48)
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Int32(truncatingIfNeeded: z % UInt64(size))
        }

        /// An affinity in 1e-5 units: high when the item matches the user's favourite, else mostly 0.
        @inline(__always)
        static func affinity(_ match: Bool, _ rng: inout SeededRandom) -> Int32 {
            if match { return Int32(((0.25 + 0.75 * rng.nextDouble()) * 100_000).rounded()) }
            if rng.nextDouble() < 0.15 { return Int32((0.25 * rng.nextDouble() * 100_000).rounded()) }
            return 0
        }

        /// Draws one impression: writes its ids (23, header order) and dense values (8, in 1e-5
        /// units) and returns its user and item.
        @inline(__always)
        func drawColumns(_ rng: inout SeededRandom, ids: UnsafeMutablePointer<Int32>,
                         dense: UnsafeMutablePointer<Int32>) -> (user: Int, item: Int) {
            let u = users.sample(&rng)
            let scenario = scenarios.sample(&rng)
            let favouriteCategory = Int(userFavourite[u * 4])
            let i: Int
            if rng.nextDouble() < personalization {
                let local = itemsByCategory.sample(&rng, start: categoryStart[favouriteCategory],
                                                   count: categoryCount[favouriteCategory])
                i = Int(categoryItems[local])
            } else {
                i = items.sample(&rng)
            }
            let cat = itemCategory[i], shop = itemShop[i], brand = itemBrand[i]
            let node = categoryNode[Int(cat)]
            let group = userProfile[u * 8 + Population.fGroup - 1]
            ids[Population.fUser] = Int32(u)
            for k in 0..<8 { ids[1 + k] = userProfile[u * 8 + k] }
            ids[Population.fItem] = Int32(i)
            ids[Population.fCategory] = cat
            ids[Population.fShop] = shop
            ids[Population.fNode] = node
            ids[Population.fBrand] = brand
            ids[Population.fCross508] = Population.cross(group, cat, salt: 0x508, size: vocabulary[Population.fCross508])
            ids[Population.fCross509] = Population.cross(group, shop, salt: 0x509, size: vocabulary[Population.fCross509])
            ids[Population.fCross702] = Population.cross(group, brand, salt: 0x702, size: vocabulary[Population.fCross702])
            ids[Population.fCross853] = Population.cross(group, node, salt: 0x853, size: vocabulary[Population.fCross853])
            ids[Population.fScenario] = Int32(scenario)
            for k in 0..<4 { ids[Population.fFavourite + k] = userFavourite[u * 4 + k] }
            for k in 0..<4 { dense[k] = userActivity[u * 4 + k] }
            dense[4] = Population.affinity(cat == userFavourite[u * 4], &rng)
            dense[5] = Population.affinity(shop == userFavourite[u * 4 + 1], &rng)
            dense[6] = Population.affinity(brand == userFavourite[u * 4 + 2], &rng)
            dense[7] = Population.affinity(node == userFavourite[u * 4 + 3], &rng)
            return (u, i)
        }
    }
}
