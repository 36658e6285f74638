"""drct.data"""
