import ArgumentParser

RecHubCommand.main()
