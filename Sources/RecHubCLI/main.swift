print("rechub")
