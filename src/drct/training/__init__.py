"""drct.training"""
