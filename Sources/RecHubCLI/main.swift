import ArgumentParser

await RecHubCommand.main()
