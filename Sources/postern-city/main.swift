print("postern-city: coming")
